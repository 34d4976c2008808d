"""Binary masks into tensorflow-model-optimization's pruning wrappers.

The pretrained network is re-cloned with every masked layer wrapped in
`PruneLowMagnitude`; each wrapper's `mask` variable is loaded with the
C-SAM binary mask and its schedule (`FixedMaskSchedule`) never asks for a
recomputation, so tfmot keeps applying exactly these masks while the
weights fine-tune, and `strip_pruning` returns a plain tf_keras model whose
pruned weights are exactly zero.
"""

from typing import Dict

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
  pruned = _wrap_layers(network, masks, FixedMaskSchedule(sparsity))
  for name, binary in masks.items():
    wrapper = pruned.get_layer(_wrapped_name(pruned, name))
    for weight, mask, _ in wrapper.pruning_vars:
      binary = np.asarray(binary, np.float32)
      mask.assign(binary)
      weight.assign(weight * binary)
  return pruned


def polynomial_decay_schedule(sparsity: float, total_steps: int,
                              end_fraction: float, frequency: int
                              ) -> pruning_schedule:
  """tfmot's gradual magnitude pruning as its guide teaches it: sparsity
  rises from 0 along PolynomialDecay and reaches `sparsity` after
  `end_fraction` of the `total_steps` (rounded to a pruning step, so the
  target is hit exactly; the frequency shrinks for short runs), leaving the
  rest to recover at the final masks."""
  if total_steps < 2:
    raise ValueError("polynomial_decay needs at least 2 fine-tuning steps")
  end = max(1, int(round(end_fraction * total_steps)))
  frequency = min(frequency, end)
  # A multiple of the frequency (pruned there) inside the run's steps.
  end = min(max(1, int(round(end / frequency))) * frequency,
            max(0, total_steps - 1) // frequency * frequency)
  return tfmot.sparsity.keras.PolynomialDecay(
      initial_sparsity=0.0, final_sparsity=float(sparsity), begin_step=0,
      end_step=end, frequency=frequency)


def global_magnitude_sparsities(network: tf_keras.Model, layer_names,
                                sparsity: float) -> Dict[str, float]:
  """Per-layer targets of global magnitude pruning: each layer's fraction
  of weights below the one |w| threshold that removes `sparsity` of all
  the named layers' weights together (tfmot prunes per layer, so a global
  allocation is a schedule per layer)."""
  kernels = {name: np.abs(network.get_layer(name).get_weights()[0]).ravel()
             for name in layer_names}
  everything = np.sort(np.concatenate(list(kernels.values())))
  cut = int(round(sparsity * everything.size))
  if cut == 0:
    return {name: 0.0 for name in kernels}
  threshold = everything[cut - 1]
  return {name: float(np.mean(values <= threshold))
          for name, values in kernels.items()}


def prune_low_magnitude(network: tf_keras.Model, layer_names,
                        schedule) -> tf_keras.Model:
  """A copy of `network` with the named layers in tfmot's magnitude-pruning
  wrappers driven by `schedule`, or by `schedule[name]` per layer when it
  is a dict (the `magnitude` baseline; global allocation)."""
  return _wrap_layers(network, set(layer_names), schedule)


def _wrap_layers(network, names, schedule):
  """Clone of `network` (same weights) with the named layers wrapped."""

  def clone(layer):
    fresh = layer.__class__.from_config(layer.get_config())
    if layer.name in names:
      return tfmot.sparsity.keras.prune_low_magnitude(
          fresh, pruning_schedule=schedule[layer.name]
          if isinstance(schedule, dict) else schedule)
    return fresh

  pruned = tf_keras.models.clone_model(network, clone_function=clone)
  for old in network.layers:
    new = pruned.get_layer(_wrapped_name(pruned, old.name))
    target = new.layer if isinstance(new, WRAPPER) else new
    target.set_weights(old.get_weights())
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
          for layer in pruned.layers if isinstance(layer, WRAPPER)}


WRAPPER = pruning_wrapper.PruneLowMagnitude


def _wrapped_name(model, name):
  """tfmot names a wrapper prune_low_magnitude_<name>."""
  names = {layer.name for layer in model.layers}
  return name if name in names else f"prune_low_magnitude_{name}"
