"""CIFAR-style MobileNet-V2: stride-1 stem and stride 1 in the 24-channel
stage (small inputs keep their resolution); inverted residual blocks as in
Sandler et al., channels rounded to multiples of 8 after the multiplier."""

import tf_keras

from csam_tf.models.building_blocks import (HE_INIT, classifier_head,
                                            conv_bn, scaled)

# (expansion, output channels, blocks, first stride)
BLOCK_CONFIG = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STEM_WIDTH = 32
LAST_WIDTH = 1280
DIVISOR = 8


def inverted_residual(x, expansion, filters, strides, name):
  """1x1 expand, 3x3 depthwise, linear 1x1 project; identity shortcut when
  the shape is unchanged."""
  in_channels = x.shape[-1]
  shortcut = x
  if expansion != 1:
    x = conv_bn(x, in_channels * expansion, 1, activation="relu6",
                name=f"{name}_expand")
  x = tf_keras.layers.DepthwiseConv2D(3, strides=strides, padding="same",
                                      use_bias=False,
                                      depthwise_initializer=HE_INIT,
                                      name=f"{name}_depthwise_conv")(x)
  x = tf_keras.layers.BatchNormalization(name=f"{name}_depthwise_bn")(x)
  x = tf_keras.layers.Activation("relu6", name=f"{name}_depthwise_relu6")(x)
  x = conv_bn(x, filters, 1, activation=None, name=f"{name}_project")
  if strides == 1 and in_channels == filters:
    x = tf_keras.layers.Add(name=f"{name}_add")([shortcut, x])
  return x


def mobilenet_v2(input_shape, num_classes, width_multiplier=1.0):
  """MobileNet-V2 for small inputs, widths times the multiplier."""
  inputs = tf_keras.Input(shape=input_shape, name="image")
  x = conv_bn(inputs, scaled(STEM_WIDTH, width_multiplier, DIVISOR), 3,
              activation="relu6", name="stem")
  for stage, (expansion, filters, blocks, stride) in enumerate(
      BLOCK_CONFIG, start=1):
    for block in range(1, blocks + 1):
      x = inverted_residual(x, expansion,
                            scaled(filters, width_multiplier, DIVISOR),
                            stride if block == 1 else 1,
                            name=f"stage{stage}_block{block}")
  last = scaled(LAST_WIDTH, max(1.0, width_multiplier), DIVISOR)
  x = conv_bn(x, last, 1, activation="relu6", name="last")
  outputs = classifier_head(x, num_classes)
  return tf_keras.Model(inputs, outputs, name="mobilenet_v2")
