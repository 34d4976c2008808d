"""CIFAR-style GoogLeNet (Inception v1): a 3x3 stem in place of the
7x7/max-pool stem, the 5x5 branch as two 3x3 convs, every conv with BN."""

import tf_keras

from csam_tf.models.building_blocks import classifier_head, conv_bn, scaled

# (name, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj); "pool" = max-pool.
INCEPTION_CONFIG = (
    ("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64),
    "pool",
    ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    "pool",
    ("5a", 256, 160, 320, 32, 128, 128), ("5b", 384, 192, 384, 48, 128, 128),
)
STEM_WIDTH = 192


def inception(x, widths, name):
  """Four parallel branches joined by a Concatenate along channels."""
  b1, b3_reduce, b3, b5_reduce, b5, pool_proj = widths
  branch1 = conv_bn(x, b1, 1, name=f"{name}_b1")
  branch3 = conv_bn(x, b3_reduce, 1, name=f"{name}_b3_reduce")
  branch3 = conv_bn(branch3, b3, 3, name=f"{name}_b3")
  branch5 = conv_bn(x, b5_reduce, 1, name=f"{name}_b5_reduce")
  branch5 = conv_bn(branch5, b5, 3, name=f"{name}_b5_a")
  branch5 = conv_bn(branch5, b5, 3, name=f"{name}_b5_b")
  pool = tf_keras.layers.MaxPooling2D(3, 1, padding="same",
                                      name=f"{name}_pool")(x)
  pool = conv_bn(pool, pool_proj, 1, name=f"{name}_pool_proj")
  return tf_keras.layers.Concatenate(name=f"{name}_concat")(
      [branch1, branch3, branch5, pool])


def googlenet(input_shape, num_classes, width_multiplier=1.0):
  """GoogLeNet for small inputs, every width times the multiplier."""
  inputs = tf_keras.Input(shape=input_shape, name="image")
  x = conv_bn(inputs, scaled(STEM_WIDTH, width_multiplier), 3, name="stem")
  pools = 0
  for entry in INCEPTION_CONFIG:
    if entry == "pool":
      pools += 1
      x = tf_keras.layers.MaxPooling2D(3, 2, padding="same",
                                       name=f"pool{pools}")(x)
      continue
    name, *widths = entry
    x = inception(x, [scaled(w, width_multiplier) for w in widths],
                  name=f"inception{name}")
  outputs = classifier_head(x, num_classes)
  return tf_keras.Model(inputs, outputs, name="googlenet")
