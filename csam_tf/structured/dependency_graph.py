"""Which channels must be kept or dropped together, read from a tf_keras
functional graph (Torch-Pruning's dependency graph, for Keras).

Every tensor's channel axis is a list of segments, each a "channel space".
A conv or dense layer creates a space (its output channels); BatchNorm,
activations, pooling and a depthwise conv pass their input's spaces
through; an Add ties the spaces of all its inputs into one; a Concatenate
lays its inputs' spaces side by side. The union-find classes of spaces are
the channel groups: one mask per group in channel mode, one slice per group
in surgery.

A group can be pruned only when every member is understood: its channels
are made by convs, each conv followed directly by a BatchNorm of the group
(where the channel gate sits), and nothing unknown reads or writes them. The
network input, the model outputs and the first conv's output (PROTOCOL.md:
the stem stays whole in structured mode) are never pruned.
"""

import dataclasses
from typing import Dict, List, Tuple

import tf_keras

_L = tf_keras.layers
# Layers whose output channels are their input channels, one to one.
CHANNEL_PRESERVING = (
    _L.Activation, _L.ReLU, _L.LeakyReLU, _L.Dropout, _L.MaxPooling2D,
    _L.AveragePooling2D, _L.GlobalAveragePooling2D, _L.GlobalMaxPooling2D,
    _L.ZeroPadding2D)
ELEMENTWISE_MERGES = (_L.Add, _L.Subtract, _L.Multiply, _L.Average,
                      _L.Maximum, _L.Minimum)

Segments = List[Tuple[int, int]]   # [(space or group index, channels)]


@dataclasses.dataclass
class ChannelGroup:
  """Channels that are kept or removed together."""
  index: int
  size: int
  producers: List[str]                 # convs making these channels
  batchnorms: List[str]                # where the group's gate sits
  depthwise: List[str]                 # depthwise convs passing them on
  consumers: List[Tuple[str, int]]     # (layer, offset in its input axis)
  prunable: bool
  reason: str = ""                     # why not, when not


@dataclasses.dataclass
class ChannelGraph:
  """The groups, and each layer's input/output channel layout by group."""
  groups: List[ChannelGroup]
  inputs: Dict[str, Segments]
  outputs: Dict[str, Segments]

  def prunable_groups(self) -> List[ChannelGroup]:
    return [g for g in self.groups if g.prunable]


class _Spaces:
  """Union-find over channel spaces, with what each space touches."""

  def __init__(self):
    self.parent, self.size, self.blocked = [], [], []
    self.members = []

  def new(self, size, blocked=""):
    self.parent.append(len(self.parent))
    self.size.append(int(size))
    self.blocked.append(blocked)
    self.members.append({"producers": [], "batchnorms": [], "depthwise": [],
                         "consumers": []})
    return len(self.parent) - 1

  def find(self, space):
    while self.parent[space] != space:
      self.parent[space] = self.parent[self.parent[space]]
      space = self.parent[space]
    return space

  def union(self, a, b):
    a, b = self.find(a), self.find(b)
    if a != b:
      self.parent[max(a, b)] = min(a, b)

  def block(self, segments, reason):
    for space, _ in segments:
      if not self.blocked[space]:
        self.blocked[space] = reason


def _inbound(layer):
  if len(layer.inbound_nodes) > 1:
    raise ValueError(f"layer {layer.name} is called more than once; channel "
                     f"grouping needs each layer used once")
  if not layer.inbound_nodes:
    return []
  inbound = layer.inbound_nodes[0].inbound_layers
  return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def _topological(model):
  order, seen = [], set()

  def visit(layer):
    if layer.name in seen:
      return
    seen.add(layer.name)
    for parent in _inbound(layer):
      visit(parent)
    order.append(layer)

  for layer in model.layers:
    visit(layer)
  return order


def _channels(layer):
  shape = layer.output_shape
  if isinstance(shape, list):
    shape = shape[0]
  return int(shape[-1])


def channel_graph(model: tf_keras.Model) -> ChannelGraph:
  """The channel groups of `model` (see the module docstring)."""
  spaces = _Spaces()
  outputs, inputs, children = {}, {}, {}
  first_conv = None
  for layer in _topological(model):
    parents = _inbound(layer)
    for parent in parents:
      children.setdefault(parent.name, []).append(layer)
    given = [outputs[p.name] for p in parents]
    inputs[layer.name] = given[0] if len(given) == 1 else sum(given, [])
    outputs[layer.name] = _propagate(layer, given, spaces)
    if type(layer) is _L.Conv2D and first_conv is None:
      first_conv = layer.name
      spaces.block(outputs[layer.name], "first conv (kept whole)")
  for tensor in model.outputs:
    spaces.block(outputs[tensor._keras_history.layer.name], "model output")
  _check_gates(model, spaces, children)
  return _groups(spaces, inputs, outputs)


def _propagate(layer, given, spaces):
  """The output segments of `layer`, recording what it does to spaces."""
  members = spaces.members
  if isinstance(layer, tf_keras.layers.InputLayer):
    return [(spaces.new(_channels(layer), "network input"), _channels(layer))]
  if type(layer) in (_L.Conv2D, _L.Dense):
    _consume(layer, given[0], spaces)
    out = spaces.new(_channels(layer))
    members[out]["producers"].append(layer.name)
    if type(layer) is _L.Conv2D and layer.groups != 1:
      spaces.block(given[0] + [(out, 0)], f"grouped conv {layer.name}")
    return [(out, _channels(layer))]
  if type(layer) is _L.DepthwiseConv2D and layer.depth_multiplier == 1:
    for space, _ in given[0]:
      members[space]["depthwise"].append(layer.name)
    return given[0]
  if type(layer) is _L.BatchNormalization and layer.axis in ([-1], [3], -1,
                                                              3):
    for space, _ in given[0]:
      members[space]["batchnorms"].append(layer.name)
    if len(given[0]) > 1:
      spaces.block(given[0], f"BatchNorm {layer.name} over a concatenation")
    return given[0]
  if type(layer) in CHANNEL_PRESERVING:
    return given[0]
  if type(layer) in ELEMENTWISE_MERGES:
    layouts = {tuple(size for _, size in g) for g in given}
    if len(layouts) == 1:
      for other in given[1:]:
        for (a, _), (b, _) in zip(given[0], other):
          spaces.union(a, b)
      return given[0]
  elif type(layer) is _L.Concatenate and layer.axis in (-1, 3):
    return sum(given, [])
  # Anything else: its input and output channels stay as they are.
  reason = f"{type(layer).__name__} {layer.name}"
  for segments in given:
    spaces.block(segments, reason)
  return [(spaces.new(_channels(layer), reason), _channels(layer))]


def _consume(layer, segments, spaces):
  offset = 0
  for space, size in segments:
    spaces.members[space]["consumers"].append((layer.name, offset))
    offset += size


def _check_gates(model, spaces, children):
  """A space is gated by its BatchNorms: every conv that makes or passes on
  its channels must feed one BatchNorm directly and nothing else."""
  for index, members in enumerate(spaces.members):
    for name in members["producers"] + members["depthwise"]:
      after = children.get(name, [])
      if len(after) != 1 or type(after[0]) is not _L.BatchNormalization:
        spaces.block([(index, 0)], f"{name} is not followed by one "
                     f"BatchNorm")


def _groups(spaces, inputs, outputs):
  roots = sorted({spaces.find(s) for s in range(len(spaces.parent))})
  index_of = {root: i for i, root in enumerate(roots)}
  groups = []
  for root in roots:
    members = [s for s in range(len(spaces.parent)) if spaces.find(s) == root]
    merged = {key: [item for s in members for item in spaces.members[s][key]]
              for key in ("producers", "batchnorms", "depthwise",
                          "consumers")}
    reasons = [spaces.blocked[s] for s in members if spaces.blocked[s]]
    if not merged["producers"]:
      reasons.append("no conv makes these channels")
    elif not merged["batchnorms"]:
      reasons.append("no BatchNorm to gate")
    groups.append(ChannelGroup(
        index=index_of[root], size=spaces.size[root],
        producers=merged["producers"], batchnorms=merged["batchnorms"],
        depthwise=merged["depthwise"], consumers=merged["consumers"],
        prunable=not reasons, reason=reasons[0] if reasons else ""))

  def by_group(segments):
    return [(index_of[spaces.find(s)], size) for s, size in segments]

  return ChannelGraph(
      groups, {name: by_group(s) for name, s in inputs.items()},
      {name: by_group(s) for name, s in outputs.items()})
