"""Turns a trained tf_keras functional network into its masked twin.

The clone has the same layer names and weights; prunable layers become
masked layers (their weights frozen), every other layer is frozen too, so
the only trainable variables are the soft masks. Per PROTOCOL.md (v2) the
first conv and the classifier head are kept whole in every mode, for every
method (`kept_whole_layers`).
"""

from typing import Dict, List, Set

import numpy as np
import tensorflow as tf
import tf_keras

from csam_tf.masking import mask_layers as masked
from csam_tf.masking.mask_init import importance, initial_mask
from csam_tf.structured import dependency_graph, group_importance, transformer

GRANULARITIES = ("unstructured", "channel")
_UNSTRUCTURED = {
    tf_keras.layers.Conv2D: masked.MaskedConv2D,
    tf_keras.layers.DepthwiseConv2D: masked.MaskedDepthwiseConv2D,
    tf_keras.layers.Dense: masked.MaskedDense,
}
_CONV_TYPES = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D)


def channel_group_scores(network: tf_keras.Model, criterion: str,
                         graph=None) -> Dict[str, np.ndarray]:
  """Channel mode: the BatchNorm that owns each prunable group's gate ->
  the group's channel importance (csam_tf.structured.group_importance).
  `graph`: the network's channel graph, when the caller has it already."""
  if transformer.is_transformer(network):
    return {group.gate: transformer.unit_scores(network, group, criterion)
            for group in transformer.unit_groups(network)}
  graph = graph or dependency_graph.channel_graph(network)
  return {group.batchnorms[0]: group_importance.group_scores(
      network, group, criterion) for group in graph.prunable_groups()}


def kept_whole_layers(network: tf_keras.Model) -> Set[str]:
  """The first conv (in graph order) and the classifier (the dense layers
  that produce the model's outputs): PROTOCOL.md v2 keeps them whole in
  every mode, for every method (at 90% layer-wise sparsity a 3x3x1 stem
  would keep 14 of its weights)."""
  kept = set()
  first = next((l for l in network.layers if type(l) in _CONV_TYPES), None)
  if first is not None:
    kept.add(first.name)
  for tensor in network.outputs:
    layer = tensor._keras_history.layer  # pylint: disable=protected-access
    if type(layer) is tf_keras.layers.Dense:
      kept.add(layer.name)
  return kept


def prunable_layer_names(network: tf_keras.Model) -> List[str]:
  """Unstructured mode: the conv and dense layers whose kernels are masked
  (the same layers tfmot's magnitude pruning wraps), in graph order."""
  kept = kept_whole_layers(network)
  return [l.name for l in network.layers
          if type(l) in _UNSTRUCTURED and l.name not in kept]


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
  owner_of, scores, unit_gates = {}, {}, {}
  prunable = set(prunable_layer_names(network))
  if granularity == "channel" and transformer.is_transformer(network):
    unit_gates = {g.gate: g for g in transformer.unit_groups(network)}
    if not unit_gates:
      raise ValueError("channel mode finds no attention head or MLP channel "
                       "to prune: heads need Dense query, key and value "
                       "layers read only by the attention and one Dense "
                       "output projection; MLP channels a Dense, an "
                       "activation and a Dense")
    scores = channel_group_scores(network, "group_norm")
  elif granularity == "channel":
    graph = dependency_graph.channel_graph(network)
    for group in graph.prunable_groups():
      owner_of.update({bn: group.batchnorms[0] for bn in group.batchnorms})
    scores = channel_group_scores(network, "group_norm", graph)

  def clone(layer):
    config = layer.get_config()
    if granularity == "unstructured" and layer.name in prunable:
      new = _UNSTRUCTURED[type(layer)].from_config(config)
    elif layer.name in owner_of:
      new = masked.GatedBatchNormalization.from_config(config)
      new.shares_gate = owner_of[layer.name] != layer.name
    elif layer.name in unit_gates:
      new = (masked.GatedDotProductAttention
             if unit_gates[layer.name].kind == transformer.HEADS
             else masked.GatedActivation).from_config(config)
    elif (type(layer) is tf_keras.layers.BatchNormalization and
          not train_weights):  # the search may normalise per batch
      return masked.SearchBatchNormalization.from_config(config)
    else:
      return layer.__class__.from_config(config)
    new.train_backbone = train_weights
    return new

  model = tf_keras.models.clone_model(network, clone_function=clone)
  rng = np.random.default_rng(seed)
  for old in network.layers:
    new = model.get_layer(old.name)
    _copy_weights(old, new)
    if getattr(new, "shares_gate", False):
      new.gate_owner = model.get_layer(owner_of[old.name])
    elif isinstance(new, (masked.GatedBatchNormalization,
                          *masked.UNIT_GATE_TYPES)):
      new.channel_importance = scores[old.name].astype(np.float32)
    if isinstance(new, masked.MASKED_LAYER_TYPES) and not getattr(
        new, "shares_gate", False):
      new.soft_mask.assign(initial_mask(
          new.masked_weight(), new.soft_mask.shape, mask_init, tau, rng))
    elif not train_weights and not isinstance(new, masked.MASKED_LAYER_TYPES):
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
    if isinstance(layer, masked.UNIT_GATE_TYPES):  # the plain layer
      return layer.plain_type.from_config(layer.get_config())
    return layer.__class__.from_config(layer.get_config())

  plain = tf_keras.models.clone_model(model, clone_function=clone)
  for layer in model.layers:
    new = plain.get_layer(layer.name)
    by_name = {_short(v.name): v for v in layer.weights}
    for variable in new.weights:
      value = by_name[_short(variable.name)].numpy()
      if (isinstance(layer, masked.GatedBatchNormalization) and
          _short(variable.name) in ("gamma", "beta")):
        value = value * layer.active_mask().numpy()
      variable.assign(value)
  _fold_unit_gates(model, plain)
  return plain


def _fold_unit_gates(model, plain):
  """A head's or MLP channel's gate multiplies the rows of the Dense that
  reads it (the output projection, the MLP's second Dense): the same
  output, and a closed unit has all-zero rows there."""
  if not any(isinstance(l, masked.UNIT_GATE_TYPES) for l in model.layers):
    return
  for group in transformer.unit_groups(plain):
    layer = model.get_layer(group.gate)
    if not isinstance(layer, masked.UNIT_GATE_TYPES):
      continue
    rows = np.repeat(layer.active_mask().numpy(), group.width)
    for name in group.consumers:
      weights = plain.get_layer(name).get_weights()
      weights[0] = weights[0] * rows[:, None]
      plain.get_layer(name).set_weights(weights)


def mask_variables(model: tf_keras.Model) -> List[tf.Variable]:
  """The soft masks, in graph order (the only trainable variables)."""
  return [layer.soft_mask for layer in masked.masked_layers(model)]


def _copy_weights(old, new):
  by_name = {_short(v.name): v for v in new.weights}
  for variable in old.weights:
    by_name[_short(variable.name)].assign(variable)


def _short(name):
  return name.split("/")[-1].split(":")[0]


def tie_break_scores(model: tf_keras.Model, normalize: bool = True
                     ) -> List[np.ndarray]:
  """Per mask, the score that orders equal mask values in binarisation:
  |w| per weight, or the group importance per channel (channel mode).
  Normalised per layer by default (layer-wise top-k does not care; global
  channel top-k compares groups of different layers fairly); unstructured
  global top-k takes raw |w|, as global magnitude pruning does."""
  scores = []
  for layer in masked.masked_layers(model):
    score = importance(np.asarray(layer.masked_weight()),
                       layer.soft_mask.shape)
    if normalize:
      score = score / max(float(score.max()), 1e-12)
    scores.append(score.astype(np.float32))
  return scores


def raw_magnitudes(cfg) -> bool:
  """Whether binarisation ranks raw |w| (unstructured, global) rather than
  per-layer normalised scores."""
  return cfg.granularity == "unstructured" and cfg.binarize == "global"

