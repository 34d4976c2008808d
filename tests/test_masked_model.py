"""Masked layers and the masked twin of a network: same function with open
masks, masks the only trainable variables, gates that really close."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from csam_tf.masking import layers as masked
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


def test_protocol_first_conv_and_head():
  network = build_model("resnet18", (16, 16, 1), 5, 0.125)
  unstructured = masked_model.to_masked_model(network, "unstructured")
  assert isinstance(unstructured.get_layer("stem_conv"), masked.MaskedConv2D)
  assert isinstance(unstructured.get_layer("head"), masked.MaskedDense)
  channel = masked_model.to_masked_model(network, "channel")
  assert type(channel.get_layer("stem_bn")) is \
      tf_keras.layers.BatchNormalization
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
  kernel = np.abs(network.get_layer("stem_conv").kernel.numpy())
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
