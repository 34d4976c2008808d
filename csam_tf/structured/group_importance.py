"""How much a channel group matters, aggregated over its members.

- `l1_filter` (Li et al., "Pruning Filters for Efficient ConvNets"): the L1
  norm of each channel's filters in the convs that make the group.
- `group_norm` (DepGraph, Fang et al. 2023): the L2 norm of every parameter
  coupled to the channel: the producing filters, depthwise kernels and
  BatchNorm scales of the group, and the input slices of the layers that
  read it.
C-SAM's channel-mode initialisation and tie-breaking use `group_norm`.
"""

import numpy as np
import tf_keras

from csam_tf.structured.dependency_graph import ChannelGroup

CRITERIA = ("l1_filter", "group_norm")


def _out_channels(kernel, power):
  """Per output channel (last axis): sum |w|^power over the rest."""
  kernel = np.abs(np.asarray(kernel, np.float64)) ** power
  return kernel.reshape(-1, kernel.shape[-1]).sum(axis=0)


def _in_channels(kernel, offset, size, power):
  """Per input channel [offset, offset + size) of a conv [kh,kw,in,out] or
  dense [in,out] kernel: sum |w|^power over the rest."""
  kernel = np.abs(np.asarray(kernel, np.float64)) ** power
  moved = np.moveaxis(kernel, -2, 0)[offset:offset + size]
  return moved.reshape(size, -1).sum(axis=1)


def group_scores(model: tf_keras.Model, group: ChannelGroup,
                 criterion: str = "group_norm") -> np.ndarray:
  """One score per channel of `group`, from `model`'s weights."""
  if criterion not in CRITERIA:
    raise ValueError(f"unknown group importance {criterion!r}; choose one "
                     f"of {', '.join(CRITERIA)}")
  power = 1 if criterion == "l1_filter" else 2
  total = np.zeros(group.size)
  for name in group.producers:
    total += _out_channels(model.get_layer(name).get_weights()[0], power)
  if criterion == "l1_filter":
    return total
  for name in group.depthwise:
    total += _out_channels(np.moveaxis(
        model.get_layer(name).get_weights()[0], -2, -1), power)
  for name in group.batchnorms:
    total += np.abs(np.asarray(model.get_layer(name).get_weights()[0],
                               np.float64)) ** power
  for name, offset in group.consumers:
    total += _in_channels(model.get_layer(name).get_weights()[0], offset,
                          group.size, power)
  return np.sqrt(total)
