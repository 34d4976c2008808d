"""Masked layers and the masked twin of a network: same function with open
masks, masks the only trainable variables, gates that really close."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from csam_tf.masking import mask_layers as masked
from csam_tf.masking import masked_model
from csam_tf.models import build_model

ARCHS = ("resnet18", "googlenet", "mobilenet_v2")


@pytest.fixture(scope="module")
def images():
  return np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 1)).astype(
      np.float32)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("granularity", ["unstructured", "channel"])
def test_open_masks_compute_the_original_function(arch, granularity, images):
  network = build_model(arch, (16, 16, 1), 5, 0.125)
  model = masked_model.to_masked_model(network, granularity, "ones")
  np.testing.assert_array_equal(model(images, training=False).numpy(),
                                network(images, training=False).numpy())
  masks = masked_model.mask_variables(model)
  assert {v.ref() for v in model.trainable_variables} == \
      {m.ref() for m in masks}
  assert all(float(tf.reduce_min(m)) == 1.0 for m in masks)


@pytest.mark.parametrize("arch,first", [("resnet18", "stem_conv"),
                                         ("googlenet", "stem_conv"),
                                         ("mobilenet_v2", "stem_conv")])
def test_protocol_v2_first_conv_and_head_stay_whole(arch, first):
  network = build_model(arch, (16, 16, 1), 5, 0.125)
  assert masked_model.kept_whole_layers(network) == {first, "head"}
  names = masked_model.prunable_layer_names(network)
  assert first not in names and "head" not in names
  unstructured = masked_model.to_masked_model(network, "unstructured")
  assert type(unstructured.get_layer(first)) is tf_keras.layers.Conv2D
  assert type(unstructured.get_layer("head")) is tf_keras.layers.Dense
  masked_names = [l.name for l in masked.masked_layers(unstructured)]
  assert masked_names == names  # every other conv and dense, graph order


def test_protocol_first_conv_and_head():
  network = build_model("resnet18", (16, 16, 1), 5, 0.125)
  channel = masked_model.to_masked_model(network, "channel")
  assert type(channel.get_layer("stem_bn")) is \
      masked.SearchBatchNormalization
  assert type(channel.get_layer("head")) is tf_keras.layers.Dense
  gated = [l.name for l in masked.masked_layers(channel)]
  # One gate per channel group: the 8 inner convs of the blocks and the 3
  # residual groups of stages 2-4 (block outputs and shortcut tied by the
  # Add); stage 1's residual group holds the stem and stays whole.
  assert len(gated) == 11 and "stage1_block1_1_bn" in gated
  assert "stage1_block1_2_bn" not in gated
  owner = channel.get_layer("stage2_block1_2_bn")
  assert owner.name in gated
  for follower in ("stage2_block1_shortcut_bn", "stage2_block2_2_bn"):
    layer = channel.get_layer(follower)
    assert layer.shares_gate and layer.gate_owner is owner
    assert not any("soft_mask" in v.name for v in layer.weights)


def test_percentile_init_of_a_masked_layer_uses_its_kernel():
  network = build_model("resnet18", (16, 16, 1), 5, 0.125)
  model = masked_model.to_masked_model(network, "unstructured",
                                       "percentile", tau=30)
  layer = model.get_layer("stage2_block1_1_conv")
  kernel = np.abs(network.get_layer("stage2_block1_1_conv").kernel.numpy())
  expected = np.clip(kernel / np.percentile(kernel, 30), 0, 1)
  np.testing.assert_allclose(layer.soft_mask.numpy(), expected, rtol=1e-6)
  scaled = masked_model.to_masked_model(network, "unstructured",
                                        "scaled_magnitude")
  # HYDRA's scaled magnitude: |w| / max |w|, one mask at 1 per layer
  np.testing.assert_allclose(
      scaled.get_layer("stage2_block1_1_conv").soft_mask.numpy(),
      kernel / kernel.max(), rtol=1e-6)


def test_a_closed_gate_outputs_exactly_zero(images):
  network = build_model("resnet18", (16, 16, 1), 5, 0.125)
  model = masked_model.to_masked_model(network, "channel", "ones")
  bn = model.get_layer("stage1_block1_1_bn")
  gate = np.ones(bn.soft_mask.shape, np.float32)
  gate[[0, 3]] = 0.0
  bn.soft_mask.assign(gate)
  probe = tf_keras.Model(model.input, bn.output)
  out = probe(images, training=False).numpy()
  assert np.all(out[..., 0] == 0.0) and np.all(out[..., 3] == 0.0)
  assert np.any(out[..., 1] != 0.0)


def test_use_masks_overrides_for_one_call_only():
  inputs = tf_keras.Input((3,))
  layer = masked.MaskedDense(2, name="dense")
  model = tf_keras.Model(inputs, layer(inputs))
  layer.kernel.assign(np.ones((3, 2), np.float32))
  layer.bias.assign([0.5, -0.5])
  x = np.array([[1.0, 2.0, 3.0]], np.float32)
  with masked.use_masks([layer], [tf.zeros((3, 2))]):
    np.testing.assert_allclose(model(x).numpy(), [[0.5, -0.5]])
  np.testing.assert_allclose(model(x).numpy(), [[6.5, 5.5]])


def test_tie_break_scores_are_normalised_magnitudes():
  network = build_model("resnet18", (16, 16, 1), 5, 0.125)
  model = masked_model.to_masked_model(network, "unstructured")
  scores = masked_model.tie_break_scores(model)
  # the first masked layer: the stem stays whole (PROTOCOL.md v2)
  kernel = np.abs(network.get_layer("stage1_block1_1_conv").kernel.numpy())
  np.testing.assert_allclose(scores[0], kernel / kernel.max(), rtol=1e-6)
  channel = masked_model.to_masked_model(network, "channel")
  first = masked.masked_layers(channel)[0]
  assert scores and masked_model.tie_break_scores(channel)[0].shape == \
      tuple(first.soft_mask.shape)


def test_train_weights_flips_what_trains():
  network = build_model("resnet18", (16, 16, 1), 5, 0.125)
  model = masked_model.to_masked_model(network, "channel", "ones",
                                       train_weights=True)
  trainable = {v.ref() for v in model.trainable_variables}
  masks = masked_model.mask_variables(model)
  assert not any(m.ref() in trainable for m in masks)
  assert model.get_layer("stage1_block1_1_conv").kernel.ref() in trainable
  assert model.get_layer("stage1_block1_1_bn").gamma.ref() in trainable


def test_folding_gates_gives_the_same_function_in_plain_layers(images):
  network = build_model("mobilenet_v2", (16, 16, 1), 5, 0.125)
  gated = masked_model.to_masked_model(network, "channel", "ones")
  rng = np.random.default_rng(0)
  for layer in masked.masked_layers(gated):
    layer.soft_mask.assign(
        (rng.uniform(size=layer.soft_mask.shape) > 0.4).astype(np.float32))
  plain = masked_model.fold_channel_gates(gated)
  assert not masked.masked_layers(plain)
  np.testing.assert_allclose(plain(images, training=False).numpy(),
                             gated(images, training=False).numpy(),
                             atol=1e-5)
  bn = plain.get_layer("stage2_block1_expand_bn")
  gate = gated.get_layer("stage2_block1_expand_bn").soft_mask.numpy()
  closed = gate == 0
  assert np.all(bn.gamma.numpy()[closed] == 0)
  assert np.all(bn.beta.numpy()[closed] == 0)


def test_search_batchnorm_normalises_with_the_batch_it_processes():
  """Inside use_batch_statistics: (x - mean_B) / sqrt(var_B + eps) * gamma +
  beta over the batch and spatial axes, moving statistics untouched;
  outside: the moving statistics, as a plain BatchNorm in inference."""
  network = build_model("resnet18", (16, 16, 1), 5, 0.125)
  model = masked_model.to_masked_model(network, "unstructured")
  bn = model.get_layer("stage1_block1_1_bn")
  assert type(bn) is masked.SearchBatchNormalization
  rng = np.random.default_rng(0)
  bn.gamma.assign(rng.uniform(0.5, 2, bn.gamma.shape))
  bn.beta.assign(rng.normal(0, 1, bn.beta.shape))
  bn.moving_mean.assign(rng.normal(0, 1, bn.moving_mean.shape))
  bn.moving_variance.assign(rng.uniform(0.5, 2, bn.moving_variance.shape))
  x = rng.normal(2.0, 3.0, (4, 5, 5, bn.gamma.shape[0])).astype(np.float32)
  before = [v.numpy().copy() for v in bn.weights]
  with masked.use_batch_statistics():
    got = bn(x, training=False).numpy()
  mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
  expected = (x - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.numpy() + \
      bn.beta.numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
  for a, b in zip(before, bn.weights):
    np.testing.assert_array_equal(a, b.numpy())
  moving = (x - bn.moving_mean.numpy()) / np.sqrt(
      bn.moving_variance.numpy() + bn.epsilon) * bn.gamma.numpy() + \
      bn.beta.numpy()
  np.testing.assert_allclose(bn(x, training=False).numpy(), moving,
                             rtol=1e-4, atol=1e-4)
