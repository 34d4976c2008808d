"""Binary masks into tensorflow-model-optimization's pruning wrappers.

The pretrained network is re-cloned with every masked layer wrapped in
`PruneLowMagnitude`; each wrapper's `mask` variable is loaded with the
C-SAM binary mask and its schedule (`FixedMaskSchedule`) never asks for a
recomputation, so tfmot keeps applying exactly these masks while the
weights fine-tune, and `strip_pruning` returns a plain tf_keras model whose
pruned weights are exactly zero.
"""

from typing import Dict

import keras_cv  # noqa: F401  (Keras 3 before tfmot: tfmot sets TF_USE_LEGACY_KERAS)
import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_wrapper)

pruning_schedule = tfmot.sparsity.keras.PruningSchedule


class FixedMaskSchedule(pruning_schedule):
  """Never prunes: the masks loaded into the wrappers stay as they are."""

  def __init__(self, sparsity: float):
    self.sparsity = float(sparsity)

  def __call__(self, step):
    return (tf.constant(False), tf.constant(self.sparsity, tf.float32))

  def get_config(self):
    return {"class_name": self.__class__.__name__,
            "config": {"sparsity": self.sparsity}}


def prune_with_fixed_masks(network: tf_keras.Model,
                           masks: Dict[str, np.ndarray],
                           sparsity: float) -> tf_keras.Model:
  """A copy of `network` whose layers named in `masks` are PruneLowMagnitude
  wrappers holding those binary masks; the masked weights are zeroed."""

  def clone(layer):
    fresh = layer.__class__.from_config(layer.get_config())
    if layer.name in masks:
      return tfmot.sparsity.keras.prune_low_magnitude(
          fresh, pruning_schedule=FixedMaskSchedule(sparsity))
    return fresh

  pruned = tf_keras.models.clone_model(network, clone_function=clone)
  for old in network.layers:
    new = pruned.get_layer(_wrapped_name(pruned, old.name))
    target = new.layer if isinstance(new, _WRAPPER) else new
    target.set_weights(old.get_weights())
    if isinstance(new, _WRAPPER):
      for weight, mask, _ in new.pruning_vars:
        binary = np.asarray(masks[old.name], np.float32)
        mask.assign(binary)
        weight.assign(weight * binary)
  return pruned


def strip(pruned: tf_keras.Model) -> tf_keras.Model:
  """The plain tf_keras model, pruned weights exactly zero."""
  return tfmot.sparsity.keras.strip_pruning(pruned)


def update_step_callback() -> tf_keras.callbacks.Callback:
  """The callback tfmot needs while fitting wrapped models."""
  return tfmot.sparsity.keras.UpdatePruningStep()


def wrapper_masks(pruned: tf_keras.Model) -> Dict[str, np.ndarray]:
  """Layer name -> the mask a PruneLowMagnitude wrapper holds."""
  return {layer.layer.name: layer.pruning_vars[0][1].numpy()
          for layer in pruned.layers if isinstance(layer, _WRAPPER)}


_WRAPPER = pruning_wrapper.PruneLowMagnitude


def _wrapped_name(model, name):
  """tfmot names a wrapper prune_low_magnitude_<name>."""
  names = {layer.name for layer in model.layers}
  return name if name in names else f"prune_low_magnitude_{name}"
