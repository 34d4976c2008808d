"""Physical channel removal: the narrow model computes what the gated
(folded) model computes, to 1e-5 on Fashion-MNIST test images, for each
graph pattern and each architecture; FLOPs counted by hand."""

import numpy as np
import pytest
import tf_keras

from csam_tf.data import fashion_mnist
from csam_tf.masking import mask_layers as masked
from csam_tf.masking import masked_model
from csam_tf.models import build_model
from csam_tf.structured import flops, surgery
from csam_tf.structured.dependency_graph import channel_graph

L = tf_keras.layers


@pytest.fixture(scope="module")
def images():
  test_images, _ = fashion_mnist.load()["test"]
  return (test_images[:16].astype(np.float32) / 255.0).reshape(16, 28, 28, 1)


def _conv_bn(x, filters, name, kernel=3, activation="relu"):
  x = L.Conv2D(filters, kernel, padding="same", use_bias=False,
               name=f"{name}_conv")(x)
  x = L.BatchNormalization(name=f"{name}_bn")(x)
  return L.Activation(activation)(x) if activation else x


def _residual():
  inputs = tf_keras.Input((28, 28, 1))
  stem = _conv_bn(inputs, 6, "stem")
  a = _conv_bn(stem, 8, "a")
  main = _conv_bn(a, 10, "b", activation=None)
  shortcut = _conv_bn(stem, 10, "short", kernel=1, activation=None)
  x = L.Activation("relu")(L.Add()([main, shortcut]))
  x = L.GlobalAveragePooling2D()(_conv_bn(x, 6, "c"))
  return tf_keras.Model(inputs, L.Dense(4, name="head")(x))


def _depthwise():
  inputs = tf_keras.Input((28, 28, 1))
  x = _conv_bn(inputs, 6, "stem")
  x = _conv_bn(x, 12, "expand", kernel=1, activation="relu6")
  x = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
  x = L.Activation("relu6")(L.BatchNormalization(name="dw_bn")(x))
  x = _conv_bn(x, 6, "project", kernel=1, activation=None)
  x = L.GlobalAveragePooling2D()(x)
  return tf_keras.Model(inputs, L.Dense(4, name="head")(x))


def _concat():
  inputs = tf_keras.Input((28, 28, 1))
  x = _conv_bn(inputs, 6, "stem")
  b1 = _conv_bn(x, 4, "b1", kernel=1)
  b2 = _conv_bn(_conv_bn(x, 5, "b2_reduce", kernel=1), 7, "b2")
  b3 = _conv_bn(L.MaxPooling2D(3, 1, padding="same")(x), 3, "b3", kernel=1)
  x = L.Concatenate()([b1, b2, b3])
  x = L.GlobalAveragePooling2D()(_conv_bn(x, 6, "after"))
  return tf_keras.Model(inputs, L.Dense(4, name="head")(x))


def _with_random_statistics(model, seed):
  """BatchNorm that is not the identity, so a removed channel matters."""
  rng = np.random.default_rng(seed)
  for layer in model.layers:
    if type(layer) is L.BatchNormalization:
      gamma, beta, mean, variance = layer.get_weights()
      layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape),
                         rng.normal(0, 0.3, beta.shape),
                         rng.normal(0, 0.3, mean.shape),
                         rng.uniform(0.5, 1.5, variance.shape)])
  return model


def _gate_and_narrow(network, seed, keep_fraction=0.5):
  """Random binary gates -> (folded gated model, narrow model, gates)."""
  gated = masked_model.to_masked_model(network, "channel", "ones")
  rng = np.random.default_rng(seed)
  gates = {}
  for layer in masked.masked_layers(gated):
    gate = (rng.uniform(size=layer.soft_mask.shape) < keep_fraction).astype(
        np.float32)
    gate[rng.integers(gate.size)] = 1.0  # at least one channel stays
    layer.soft_mask.assign(gate)
    gates[layer.name] = gate
  folded = masked_model.fold_channel_gates(gated)
  graph = channel_graph(folded)
  narrow = surgery.narrow_model(folded, graph,
                                surgery.keep_from_gates(graph, gates))
  return folded, narrow, gates


@pytest.mark.parametrize("build", [_residual, _depthwise, _concat],
                         ids=["residual", "depthwise", "concat"])
def test_each_pattern_keeps_the_function(build, images):
  tf_keras.utils.set_random_seed(0)
  network = _with_random_statistics(build(), 0)
  folded, narrow, gates = _gate_and_narrow(network, 1)
  expected = folded(images, training=False).numpy()
  np.testing.assert_allclose(narrow(images, training=False).numpy(),
                             expected, atol=1e-5)
  assert narrow.count_params() < network.count_params()
  assert np.std(expected, axis=0).max() > 1e-3  # depends on the image


def test_residual_group_is_cut_in_every_member(images):
  tf_keras.utils.set_random_seed(0)
  network = _with_random_statistics(_residual(), 0)
  folded, narrow, gates = _gate_and_narrow(network, 2)
  kept = int(gates["b_bn"].sum())
  assert narrow.get_layer("b_conv").kernel.shape[-1] == kept
  assert narrow.get_layer("short_conv").kernel.shape[-1] == kept
  assert narrow.get_layer("c_conv").kernel.shape[2] == kept
  assert narrow.get_layer("a_conv").kernel.shape[-1] == int(
      gates["a_bn"].sum())
  assert narrow.get_layer("stem_conv").kernel.shape[-1] == 6  # whole


@pytest.mark.parametrize("arch", ["resnet18", "googlenet", "mobilenet_v2"])
def test_architectures_keep_the_function(arch, images):
  tf_keras.utils.set_random_seed(0)
  network = _with_random_statistics(
      build_model(arch, (28, 28, 1), 10, 0.125), 3)
  folded, narrow, _ = _gate_and_narrow(network, 4)
  np.testing.assert_allclose(narrow(images, training=False).numpy(),
                             folded(images, training=False).numpy(),
                             atol=1e-5)
  assert flops.model_flops(narrow) < flops.model_flops(folded)
  assert narrow.count_params() < folded.count_params()


def test_keep_vectors_are_checked():
  network = _residual()
  graph = channel_graph(network)
  stem = next(g for g in graph.groups if "stem_conv" in g.producers)
  with pytest.raises(ValueError, match="cannot be pruned"):
    surgery.narrow_model(network, graph, {stem.index: np.ones(6, bool)})
  group = next(g for g in graph.groups if "a_conv" in g.producers)
  with pytest.raises(ValueError, match="0 kept"):
    surgery.narrow_model(network, graph, {group.index: np.zeros(8, bool)})


def test_flops_by_hand():
  inputs = tf_keras.Input((8, 8, 3))
  x = L.Conv2D(4, 3, padding="same", strides=2)(inputs)       # 4x4x4 out
  x = L.DepthwiseConv2D(3, padding="same")(x)                 # 4x4x4 out
  x = L.GlobalAveragePooling2D()(x)
  model = tf_keras.Model(inputs, L.Dense(5)(x))
  conv = 2 * 4 * 4 * 3 * 3 * 3 * 4
  depthwise = 2 * 4 * 4 * 3 * 3 * 4
  dense = 2 * 4 * 5
  assert flops.model_flops(model) == conv + depthwise + dense
