"""Channel groups found from the graph, one test per pattern: BatchNorm
after its conv, a residual Add, a depthwise conv, a Concatenate, and what
blocks pruning; then the three architectures."""

import pytest
import tf_keras

from csam_tf.models import build_model
from csam_tf.structured.dependency_graph import channel_graph

L = tf_keras.layers


def _conv_bn(x, filters, name, kernel=3):
  x = L.Conv2D(filters, kernel, padding="same", use_bias=False,
               name=f"{name}_conv")(x)
  return L.BatchNormalization(name=f"{name}_bn")(x)


def _group_of(graph, layer):
  return next(g for g in graph.groups if layer in g.producers)


def test_batchnorm_after_its_conv_is_one_group():
  inputs = tf_keras.Input((8, 8, 3))
  x = _conv_bn(inputs, 4, "stem")
  x = L.Activation("relu")(_conv_bn(x, 6, "a"))
  x = L.GlobalAveragePooling2D()(x)
  model = tf_keras.Model(inputs, L.Dense(2, name="head")(x))
  graph = channel_graph(model)
  group = _group_of(graph, "a_conv")
  assert group.prunable and group.size == 6
  assert group.batchnorms == ["a_bn"] and group.consumers == [("head", 0)]
  stem = _group_of(graph, "stem_conv")
  assert not stem.prunable and "first conv" in stem.reason
  assert not _group_of(graph, "head").prunable  # the logits
  assert graph.inputs["a_conv"] == [(stem.index, 4)]


def test_residual_add_ties_its_branches():
  inputs = tf_keras.Input((8, 8, 3))
  stem = L.Activation("relu")(_conv_bn(inputs, 4, "stem"))
  a = L.Activation("relu")(_conv_bn(stem, 5, "a"))
  main = _conv_bn(a, 6, "b")
  shortcut = _conv_bn(stem, 6, "short", kernel=1)
  x = L.Activation("relu")(L.Add(name="add")([main, shortcut]))
  x = _conv_bn(x, 3, "c")
  model = tf_keras.Model(inputs, L.GlobalAveragePooling2D()(x))
  graph = channel_graph(model)
  tied = _group_of(graph, "b_conv")
  assert tied is _group_of(graph, "short_conv")
  assert sorted(tied.producers) == ["b_conv", "short_conv"]
  assert sorted(tied.batchnorms) == ["b_bn", "short_bn"]
  assert tied.consumers == [("c_conv", 0)] and tied.prunable
  assert _group_of(graph, "a_conv").prunable
  assert not _group_of(graph, "c_conv").prunable  # model output


def test_depthwise_conv_passes_its_input_group_on():
  inputs = tf_keras.Input((8, 8, 3))
  x = L.Activation("relu")(_conv_bn(inputs, 4, "stem"))
  x = L.Activation("relu6")(_conv_bn(x, 8, "expand", kernel=1))
  x = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
  x = L.Activation("relu6")(L.BatchNormalization(name="dw_bn")(x))
  x = _conv_bn(x, 4, "project", kernel=1)
  model = tf_keras.Model(inputs, L.GlobalAveragePooling2D()(x))
  graph = channel_graph(model)
  group = _group_of(graph, "expand_conv")
  assert group.depthwise == ["dw"]
  assert group.batchnorms == ["expand_bn", "dw_bn"]
  assert group.consumers == [("project_conv", 0)] and group.prunable


def test_concatenate_lays_groups_side_by_side():
  inputs = tf_keras.Input((8, 8, 3))
  x = L.Activation("relu")(_conv_bn(inputs, 4, "stem"))
  b1 = L.Activation("relu")(_conv_bn(x, 3, "b1", kernel=1))
  b2 = L.Activation("relu")(_conv_bn(x, 5, "b2"))
  pool = L.MaxPooling2D(3, 1, padding="same")(x)
  b3 = L.Activation("relu")(_conv_bn(pool, 2, "b3", kernel=1))
  x = L.Concatenate(name="concat")([b1, b2, b3])
  x = _conv_bn(x, 4, "after")
  model = tf_keras.Model(inputs, L.GlobalAveragePooling2D()(x))
  graph = channel_graph(model)
  groups = [_group_of(graph, f"{b}_conv") for b in ("b1", "b2", "b3")]
  assert len({g.index for g in groups}) == 3 and all(g.prunable
                                                     for g in groups)
  assert [g.consumers for g in groups] == [[("after_conv", 0)],
                                           [("after_conv", 3)],
                                           [("after_conv", 8)]]
  assert graph.inputs["after_conv"] == [(g.index, g.size) for g in groups]


@pytest.mark.parametrize("blocker,reason", [
    (lambda x: L.Conv2D(6, 3, padding="same", name="no_bn")(x),
     "not followed by one BatchNorm"),
    (lambda x: L.BatchNormalization(name="bn")(
        L.Conv2D(6, 3, padding="same", name="conv")(L.Lambda(
            lambda t: t * 2.0, name="unknown")(x))), "Lambda unknown"),
])
def test_what_the_graph_cannot_prove_is_never_pruned(blocker, reason):
  inputs = tf_keras.Input((8, 8, 3))
  x = L.Activation("relu")(_conv_bn(inputs, 4, "stem"))
  x = _conv_bn(x, 5, "a")
  y = blocker(x)
  model = tf_keras.Model(inputs, L.GlobalAveragePooling2D()(
      _conv_bn(y, 3, "out")))
  graph = channel_graph(model)
  blocked = [g for g in graph.groups if reason in g.reason]
  assert blocked and not any(g.prunable for g in blocked)


@pytest.mark.parametrize("arch,groups", [
    # 8 inner block convs + residual groups of stages 2-4
    ("resnet18", 11),
    # every inception branch conv (7 per module x 9 modules)
    ("googlenet", 63),
    # 16 expansions (the t=1 block has none), the projection groups of
    # stages 3-7, the last 1x1 conv's: at width 0.125 the stem and stages
    # 1-2 all round to 8 channels, so residual Adds tie them to the stem
    ("mobilenet_v2", 22),
])
def test_architectures(arch, groups):
  network = build_model(arch, (16, 16, 1), 5, 0.125)
  graph = channel_graph(network)
  prunable = graph.prunable_groups()
  assert len(prunable) == groups
  for group in prunable:  # each group gated by a BN per producing conv
    assert len(group.batchnorms) == len(group.producers) + len(
        group.depthwise)
  convs = {l.name for l in network.layers if type(l) is L.Conv2D}
  grouped = {p for g in graph.groups for p in g.producers}
  assert convs <= grouped
