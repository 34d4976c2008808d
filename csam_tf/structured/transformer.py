"""Structured units of a transformer: attention heads and MLP channels.

A head of a `DotProductAttention` layer is `depth` contiguous columns of
each of the query, key and value Dense kernels (and biases) that feed it,
and the same rows of the output projection that reads it. An MLP channel
is a column of the Dense before an element-wise activation and the row of
the Dense after it. Removing a head or a channel removes exactly those
slices (Torch-Pruning's head pruning, for Keras). LayerNorm mixes every
channel of the residual stream, so the stream itself is not pruned.

Only these exact patterns are grouped (a shared layer, or a projection
read by anything else, leaves its units whole): never guessed.
"""

import collections
import dataclasses
from typing import Dict, List

import numpy as np
import tf_keras

from csam_tf.models.vit import DotProductAttention

_L = tf_keras.layers
HEADS, MLP = "heads", "mlp_channels"


@dataclasses.dataclass(frozen=True)
class UnitGroup:
  """Prunable units sharing a gate layer: the heads of one attention
  layer, or the hidden channels of one MLP."""
  gate: str                # the attention layer, or the MLP's activation
  kind: str                # HEADS or MLP
  size: int                # heads, or hidden channels
  width: int               # columns per unit: head depth, or 1
  producers: tuple         # Dense layers whose output columns are units
  consumers: tuple         # Dense layers whose input rows are units

  def columns(self, keep: np.ndarray) -> np.ndarray:
    """Column (row) indices of the kept units."""
    return (np.flatnonzero(keep)[:, None] * self.width +
            np.arange(self.width)[None, :]).reshape(-1)


def _inbound(layer) -> list:
  if not layer.inbound_nodes:
    return []
  inbound = layer.inbound_nodes[0].inbound_layers
  return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def _consumers(model) -> Dict[str, list]:
  readers = collections.defaultdict(list)  # a Sequential's input too
  for layer in model.layers:
    for parent in _inbound(layer):
      readers[parent.name].append(layer)
  return readers


def _only_dense(layers) -> bool:
  return bool(layers) and all(type(l) is _L.Dense for l in layers)


def unit_groups(model: tf_keras.Model) -> List[UnitGroup]:
  """The model's head and MLP-channel groups, in graph order."""
  readers = _consumers(model)
  groups = []
  for layer in model.layers:
    if any(len(l.inbound_nodes) > 1 for l in [layer, *_inbound(layer)]):
      continue  # a shared layer: slicing it would change its other uses
    parents, children = _inbound(layer), readers[layer.name]
    if type(layer) is DotProductAttention:
      if (len(parents) == 3 and _only_dense(parents) and
          len(children) == 1 and _only_dense(children) and
          all(readers[p.name] == [layer] for p in parents)):
        groups.append(UnitGroup(
            layer.name, HEADS, layer.num_heads,
            parents[0].units // layer.num_heads,
            tuple(p.name for p in parents), (children[0].name,)))
    elif (type(layer) is _L.Activation and len(parents) == 1 and
          _only_dense(parents) and readers[parents[0].name] == [layer] and
          len(children) == 1 and _only_dense(children)):
      groups.append(UnitGroup(layer.name, MLP, parents[0].units, 1,
                              (parents[0].name,), (children[0].name,)))
  return groups


def is_transformer(model: tf_keras.Model) -> bool:
  """Whether channel mode prunes heads and MLP channels (an attention
  layer is present) rather than BatchNorm channel groups."""
  return any(type(l) is DotProductAttention for l in model.layers)


def unit_scores(model: tf_keras.Model, group: UnitGroup,
                criterion: str = "group_norm") -> np.ndarray:
  """One score per unit: the L2 norm of every weight removed with it
  (`group_norm`), or the L1 norm of its producers' columns
  (`l1_filter`)."""
  power = 1 if criterion == "l1_filter" else 2
  total = np.zeros(group.size)
  for name in group.producers:
    weights = model.get_layer(name).get_weights()   # kernel[, bias]
    values = np.concatenate([np.asarray(w, np.float64).reshape(
        -1, group.size * group.width) for w in weights])
    total += (np.abs(values) ** power).reshape(
        -1, group.size, group.width).sum(axis=(0, 2))
  if criterion == "l1_filter":
    return total
  for name in group.consumers:
    kernel = np.asarray(model.get_layer(name).get_weights()[0], np.float64)
    total += (kernel ** 2).reshape(group.size, group.width, -1).sum(
        axis=(1, 2))
  return np.sqrt(total)


def narrow_model(model: tf_keras.Model, groups: List[UnitGroup],
                 keep: Dict[str, np.ndarray]) -> tf_keras.Model:
  """`model` rebuilt without the units whose `keep[group.gate]` entry is
  False (groups not in `keep` stay whole); the attention layers' heads,
  the projections' and MLPs' widths shrink, kept weights are copied."""
  by_gate = {g.gate: g for g in groups}
  for gate, kept in keep.items():
    group = by_gate[gate]
    if len(kept) != group.size or not np.any(kept):
      raise ValueError(f"{gate} has {group.size} {group.kind}; its keep "
                       f"vector has {len(kept)} with {int(np.sum(kept))} "
                       f"kept")
  out_columns, in_rows = {}, {}
  for gate, kept in keep.items():
    group = by_gate[gate]
    columns = group.columns(np.asarray(kept, bool))
    out_columns.update({name: columns for name in group.producers})
    in_rows.update({name: columns for name in group.consumers})

  def clone(layer):
    config = layer.get_config()
    if layer.name in out_columns:
      config["units"] = len(out_columns[layer.name])
    if layer.name in keep and type(layer) is DotProductAttention:
      config["num_heads"] = int(np.sum(keep[layer.name]))
    return layer.__class__.from_config(config)

  narrow = tf_keras.models.clone_model(model, clone_function=clone)
  for layer in model.layers:
    weights = layer.get_weights()
    if layer.name in in_rows:
      weights[0] = weights[0][in_rows[layer.name]]
    if layer.name in out_columns:
      weights = [weights[0][:, out_columns[layer.name]],
                 *(w[out_columns[layer.name]] for w in weights[1:])]
    if weights:
      narrow.get_layer(layer.name).set_weights(weights)
  return narrow
