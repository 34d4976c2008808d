"""Physical channel removal: the narrower tf_keras model with the kept
channels' weights copied over (Torch-Pruning's pruning functions, for Keras).

A removed channel must already output exactly zero in the source model
(its gate folded into BatchNorm: gamma = beta = 0); then dropping it, and
the input slices of the layers that read it, leaves every output unchanged
up to float summation order.
"""

from typing import Dict

import numpy as np
import tf_keras

from csam_tf.structured.dependency_graph import ChannelGraph

_L = tf_keras.layers


def keep_from_gates(graph: ChannelGraph, gates: Dict[str, np.ndarray]
                    ) -> Dict[int, np.ndarray]:
  """Group index -> boolean keep vector, from binary gates keyed by the
  group's first BatchNorm (the masks file of channel mode)."""
  keep = {}
  for group in graph.prunable_groups():
    gate = gates.get(group.batchnorms[0])
    if gate is not None:
      keep[group.index] = np.asarray(gate).reshape(-1) > 0
  return keep


def _indices(segments, keep):
  """Kept positions along a channel axis laid out as `segments`."""
  parts, offset = [], 0
  for group, size in segments:
    kept = keep.get(group)
    parts.append(offset + (np.arange(size) if kept is None
                           else np.flatnonzero(kept)))
    offset += size
  return np.concatenate(parts) if parts else np.arange(0)


def narrow_model(model: tf_keras.Model, graph: ChannelGraph,
                 keep: Dict[int, np.ndarray]) -> tf_keras.Model:
  """`model` rebuilt with only the kept channels of each group in `keep`
  (group index -> boolean vector; absent groups stay whole)."""
  for index, kept in keep.items():
    group = graph.groups[index]
    if not group.prunable:
      raise ValueError(f"channel group {index} cannot be pruned: "
                       f"{group.reason}")
    if len(kept) != group.size or not np.any(kept):
      raise ValueError(f"channel group {index} has {group.size} channels; "
                       f"its keep vector has {len(kept)} with "
                       f"{int(np.sum(kept))} kept")

  def clone(layer):
    config = layer.get_config()
    if type(layer) in (_L.Conv2D, _L.Dense):
      count = len(_indices(graph.outputs[layer.name], keep))
      config["filters" if type(layer) is _L.Conv2D else "units"] = count
    return layer.__class__.from_config(config)

  narrow = tf_keras.models.clone_model(model, clone_function=clone)
  for layer in model.layers:
    weights = layer.get_weights()
    if not weights:
      continue
    inputs = _indices(graph.inputs[layer.name], keep)
    outputs = _indices(graph.outputs[layer.name], keep)
    whole = (len(inputs) == sum(s for _, s in graph.inputs[layer.name]) and
             len(outputs) == sum(s for _, s in graph.outputs[layer.name]))
    narrow.get_layer(layer.name).set_weights(
        weights if whole else _slice_weights(layer, weights, inputs,
                                             outputs))
  return narrow


def _slice_weights(layer, weights, inputs, outputs):
  """The layer's weights restricted to the kept input/output channels."""
  kind = type(layer)
  if kind is _L.Conv2D:
    kernel = weights[0][:, :, inputs, :][..., outputs]
    return [kernel] + [b[outputs] for b in weights[1:]]
  if kind is _L.Dense:
    return [weights[0][inputs][:, outputs]] + [b[outputs]
                                               for b in weights[1:]]
  if kind is _L.DepthwiseConv2D:
    return [weights[0][:, :, inputs, :]] + [b[inputs] for b in weights[1:]]
  if kind is _L.BatchNormalization:
    return [w[inputs] for w in weights]
  raise ValueError(f"no channel slicing for {kind.__name__} {layer.name}")
