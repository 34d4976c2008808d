"""CIFAR-style ResNets: 3x3 stride-1 stem, no max-pool (PROTOCOL.md).

ResNet-18 is the protocol's model; ResNet-10 (one BasicBlock a stage, the
smallest member of the family) is for small devices and for the tests'
end-to-end runs, where building the graphs, not computing them, sets the
time.
"""

import tf_keras

from csam_tf.models.building_blocks import classifier_head, conv_bn, scaled

STAGE_WIDTHS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = {"resnet10": (1, 1, 1, 1), "resnet18": (2, 2, 2, 2)}


def basic_block(x, filters, strides, name):
  """Two 3x3 convs; a 1x1 projection shortcut where the shape changes."""
  shortcut = x
  x = conv_bn(x, filters, 3, strides, name=f"{name}_1")
  x = conv_bn(x, filters, 3, 1, activation=None, name=f"{name}_2")
  if strides != 1 or shortcut.shape[-1] != filters:
    shortcut = conv_bn(shortcut, filters, 1, strides, activation=None,
                       name=f"{name}_shortcut")
  x = tf_keras.layers.Add(name=f"{name}_add")([x, shortcut])
  return tf_keras.layers.Activation("relu", name=f"{name}_out")(x)


def resnet(name, input_shape, num_classes, width_multiplier=1.0):
  """ResNet `name` (resnet10, resnet18) for small inputs; widths
  (64,128,256,512) x multiplier."""
  inputs = tf_keras.Input(shape=input_shape, name="image")
  x = conv_bn(inputs, scaled(64, width_multiplier), 3, name="stem")
  for stage, (width, blocks) in enumerate(
      zip(STAGE_WIDTHS, BLOCKS_PER_STAGE[name]), start=1):
    for block in range(1, blocks + 1):
      strides = 2 if stage > 1 and block == 1 else 1
      x = basic_block(x, scaled(width, width_multiplier), strides,
                      name=f"stage{stage}_block{block}")
  outputs = classifier_head(x, num_classes)
  return tf_keras.Model(inputs, outputs, name=name)


def resnet18(input_shape, num_classes, width_multiplier=1.0):
  """ResNet-18: two BasicBlocks a stage (the protocol's model)."""
  return resnet("resnet18", input_shape, num_classes, width_multiplier)


def resnet10(input_shape, num_classes, width_multiplier=1.0):
  """ResNet-10: one BasicBlock a stage."""
  return resnet("resnet10", input_shape, num_classes, width_multiplier)
