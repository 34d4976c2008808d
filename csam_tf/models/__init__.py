"""Model registry: `build_model(arch, ...)` for every supported architecture.

Builders are imported on use, so `csam_tf.models.flags` loads without
TensorFlow (the CLI validates flags before that slow import).
"""

from csam_tf.models.names import ARCHITECTURES


def build_model(arch, input_shape, num_classes, width_multiplier=1.0,
                vit_config=None):
  """A freshly initialised tf_keras functional model that outputs logits
  (`vit_config`: the ViT's shape, defaults when None)."""
  from csam_tf.models.googlenet import googlenet
  from csam_tf.models.mobilenet_v2 import mobilenet_v2
  from csam_tf.models.resnet import resnet10, resnet18
  from csam_tf.models.vit import vit
  builders = {"resnet18": resnet18, "resnet10": resnet10,
              "googlenet": googlenet,
              "mobilenet_v2": mobilenet_v2, "vit": vit}
  assert set(builders) == set(ARCHITECTURES)
  if arch not in builders:
    raise ValueError(f"unknown architecture {arch!r}; choose one of "
                     f"{', '.join(ARCHITECTURES)}")
  if arch == "vit" and vit_config is not None:
    return vit(tuple(input_shape), num_classes, width_multiplier, vit_config)
  return builders[arch](tuple(input_shape), num_classes, width_multiplier)


def copy_model(model):
  """A separate tf_keras model with `model`'s weights and BatchNorm
  statistics: for work that must leave the original as it is (masks
  multiplied in for recalibration, learned gamma and beta assigned, plain
  variables outside a distribution strategy)."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  weights = model.get_weights()  # first: under a strategy, a collective read
  copy = tf_keras.models.clone_model(model)
  copy.set_weights(weights)
  return copy
