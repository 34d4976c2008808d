"""Turns a trained tf_keras functional network into its masked twin.

The clone has the same layer names and weights; prunable layers become
masked layers (their weights frozen), every other layer is frozen too, so
the only trainable variables are the soft masks. Per PROTOCOL.md the first
conv and the classifier head are masked in unstructured mode and kept whole
in channel mode.
"""

from typing import Dict, List

import numpy as np
import tensorflow as tf
import tf_keras

from csam_tf.masking import layers as masked
from csam_tf.masking.mask_init import importance, initial_mask

GRANULARITIES = ("unstructured", "channel")
_UNSTRUCTURED = {
    tf_keras.layers.Conv2D: masked.MaskedConv2D,
    tf_keras.layers.DepthwiseConv2D: masked.MaskedDepthwiseConv2D,
    tf_keras.layers.Dense: masked.MaskedDense,
}
_CONV_TYPES = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D)


def gated_batchnorms(network: tf_keras.Model) -> Dict[str, tf_keras.layers.Layer]:
  """Channel mode: BatchNorm name -> the conv feeding it, for every conv
  but the first (the stem is kept whole)."""
  convs = [l for l in network.layers if isinstance(l, _CONV_TYPES)]
  first_conv = convs[0] if convs else None
  gated = {}
  for layer in network.layers:
    if type(layer) is not tf_keras.layers.BatchNormalization:
      continue
    source = layer.inbound_nodes[0].inbound_layers
    if isinstance(source, _CONV_TYPES) and source is not first_conv:
      gated[layer.name] = source
  return gated


def prunable_layer_names(network: tf_keras.Model) -> List[str]:
  """Unstructured mode: the conv and dense layers whose kernels are masked
  (the same layers tfmot's magnitude pruning wraps)."""
  return [l.name for l in network.layers if type(l) in _UNSTRUCTURED]


def to_masked_model(network: tf_keras.Model, granularity: str = "unstructured",
                    mask_init: str = "percentile", tau: float = 30.0,
                    seed: int = 0, train_weights: bool = False
                    ) -> tf_keras.Model:
  """The masked twin of `network`, masks initialised by `mask_init`.

  `train_weights` flips what trains: every weight does and the masks are
  fixed (for fine-tuning under fixed masks).
  """
  if granularity not in GRANULARITIES:
    raise ValueError(f"unknown granularity {granularity!r}; choose one of "
                     f"{', '.join(GRANULARITIES)}")
  gated = gated_batchnorms(network) if granularity == "channel" else {}

  def clone(layer):
    config = layer.get_config()
    if granularity == "unstructured" and type(layer) in _UNSTRUCTURED:
      new = _UNSTRUCTURED[type(layer)].from_config(config)
    elif layer.name in gated:
      new = masked.GatedBatchNormalization.from_config(config)
    else:
      return layer.__class__.from_config(config)
    new.train_backbone = train_weights
    return new

  model = tf_keras.models.clone_model(network, clone_function=clone)
  rng = np.random.default_rng(seed)
  for old in network.layers:
    new = model.get_layer(old.name)
    _copy_weights(old, new)
    if isinstance(new, masked.GatedBatchNormalization):
      source = gated[old.name]
      new.set_source_kernel(model.get_layer(source.name).weights[0])
      new.source_is_depthwise = isinstance(
          source, tf_keras.layers.DepthwiseConv2D)
    if isinstance(new, masked.MASKED_LAYER_TYPES):
      depthwise = getattr(new, "source_is_depthwise", False)
      new.soft_mask.assign(initial_mask(
          new.masked_weight().numpy(), new.soft_mask.shape, mask_init, tau,
          rng, depthwise=depthwise))
    elif not train_weights:
      new.trainable = False
  return model


def fold_channel_gates(model: tf_keras.Model) -> tf_keras.Model:
  """A plain tf_keras copy of a channel-gated model: each gate is folded
  into its BatchNorm (gamma and beta times the gate), so a closed channel
  still outputs exactly zero and no custom layer is left for export."""

  def clone(layer):
    if isinstance(layer, masked.GatedBatchNormalization):
      return tf_keras.layers.BatchNormalization.from_config(
          layer.get_config())
    return layer.__class__.from_config(layer.get_config())

  plain = tf_keras.models.clone_model(model, clone_function=clone)
  for layer in model.layers:
    new = plain.get_layer(layer.name)
    by_name = {_short(v.name): v for v in layer.weights}
    for variable in new.weights:
      value = by_name[_short(variable.name)].numpy()
      if (isinstance(layer, masked.GatedBatchNormalization) and
          _short(variable.name) in ("gamma", "beta")):
        value = value * layer.soft_mask.numpy()
      variable.assign(value)
  return plain


def mask_variables(model: tf_keras.Model) -> List[tf.Variable]:
  """The soft masks, in graph order (the only trainable variables)."""
  return [layer.soft_mask for layer in masked.masked_layers(model)]


def _copy_weights(old, new):
  by_name = {_short(v.name): v for v in new.weights}
  for variable in old.weights:
    by_name[_short(variable.name)].assign(variable)


def _short(name):
  return name.split("/")[-1].split(":")[0]


def tie_break_scores(model: tf_keras.Model) -> List[np.ndarray]:
  """Per mask, the score that orders equal mask values in binarisation:
  |w| per weight, or the filter L2 norm per channel (channel mode).
  Normalised per layer so global top-k compares layers fairly."""
  scores = []
  for layer in masked.masked_layers(model):
    score = importance(layer.masked_weight().numpy(), layer.soft_mask.shape,
                       getattr(layer, "source_is_depthwise", False))
    scores.append((score / max(float(score.max()), 1e-12)).astype(np.float32))
  return scores

