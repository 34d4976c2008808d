"""Baseline masks: exact counts, magnitude keeps the largest |w|, random is
seeded, and HYDRA-style score training moves only the scores by the
cross-entropy of the binarised network."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import (BENCH_TINY, TINY_ARCH, TINY_WIDTH,
                      copy_pretrained_workdir, layerwise_search, run_cli)
from csam_tf.masking import losses
from csam_tf.data import pipeline
from csam_tf.data.config import DataConfig
from csam_tf.masking import binarize as binarize_lib
from csam_tf.masking import masked_model
from csam_tf.masking.mask_layers import (masked_layers, use_batch_statistics,
                                    use_masks)
from csam_tf.models import build_model
from trainers import baseline_masks
from trainers.mask_stage import load_masks, run_mask_search


def _magnitudes():
  rng = np.random.default_rng(0)
  return [rng.normal(size=(3, 3, 2, 4)).astype(np.float32),
          rng.normal(size=(10, 5)).astype(np.float32)]


def test_magnitude_masks_keep_exactly_the_largest_weights():
  weights = _magnitudes()
  masks = baseline_masks.one_shot_masks(
      "magnitude", [np.abs(w) for w in weights], 0.75, "layerwise", 0)
  for w, m in zip(weights, masks):
    m = m.numpy()
    keep = w.size - int(round(0.75 * w.size))
    assert m.sum() == keep
    assert np.abs(w[m == 1]).min() > np.abs(w[m == 0]).max()


def test_random_masks_are_seeded_and_exact():
  magnitudes = [np.abs(w) for w in _magnitudes()]
  first = baseline_masks.one_shot_masks("random", magnitudes, 0.5,
                                        "layerwise", 3)
  again = baseline_masks.one_shot_masks("random", magnitudes, 0.5,
                                        "layerwise", 3)
  other = baseline_masks.one_shot_masks("random", magnitudes, 0.5,
                                        "layerwise", 4)
  assert [m.numpy().sum() for m in first] == [36, 25]
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert any(not np.array_equal(a.numpy(), b.numpy())
             for a, b in zip(first, other))


def test_unknown_one_shot_method():
  with pytest.raises(ValueError, match="random, magnitude"):
    baseline_masks.one_shot_masks("csam", [np.ones(4)], 0.5, "layerwise", 0)


def test_score_training_step_is_cross_entropy_of_the_binary_network():
  tf_keras.utils.set_random_seed(0)
  network = build_model("resnet18", (12, 12, 1), 4, 0.125)
  model = masked_model.to_masked_model(network, "unstructured")
  masks = masked_model.mask_variables(model)
  mask_refs = {m.ref() for m in masks}
  backbone = {v.name: v.numpy().copy() for v in model.variables
              if v.ref() not in mask_refs}
  trainer = baseline_masks.ScoreCrossEntropyTrainer(
      model, layerwise_search(sparsity=0.5), seed=0)
  trainer.compile(optimizer=tf_keras.optimizers.SGD(0.1))
  rng = np.random.default_rng(1)
  images = rng.uniform(0, 1, (16, 12, 12, 1)).astype(np.float32)
  labels = rng.integers(0, 4, 16).astype(np.int32)

  before = [tf.constant(m.numpy()) for m in masks]
  hard = trainer.binarize(before)
  with tf.GradientTape() as tape:
    tape.watch(before)
    binary = [binarize_lib.straight_through(s, h)
              for s, h in zip(before, hard)]
    # BatchNorm on the batch's statistics, as every search pass
    with use_masks(masked_layers(model), binary), use_batch_statistics():
      expected_loss = losses.cross_entropy(
          labels, model(images, training=False))
  gradients = tape.gradient(expected_loss, before)

  logs = trainer.train_on_batch(images, labels, return_dict=True)
  assert logs["loss"] == pytest.approx(float(expected_loss), rel=1e-5)
  for mask, start, gradient in zip(masks, before, gradients):
    np.testing.assert_allclose(
        mask.numpy(), np.clip(start.numpy() - 0.1 * gradient.numpy(), 0, 1),
        atol=1e-6)
  for name, value in backbone.items():
    now = next(v for v in model.variables if v.name == name).numpy()
    np.testing.assert_array_equal(now, value, err_msg=name)


def test_mask_stage_alone_uses_the_pretrained_weights_on_disk(
    tmp_path, tiny_dense_workdir):
  """--stages=mask after a finished stage 1 prunes the trained network:
  the one-shot magnitude masks are the top-k |w| of the saved weights,
  over all masked layers together (the default global allocation)."""
  workdir = copy_pretrained_workdir(tiny_dense_workdir, str(tmp_path / "run"))
  result = run_cli(f"--workdir={workdir}", *BENCH_TINY, "--stages=mask",
                   "--mask_method=magnitude", "--sparsity=0.6")
  assert result.returncode == 0, result.stderr[-2000:]
  network = build_model(TINY_ARCH, (28, 28, 1), 10, TINY_WIDTH)
  network.load_weights(os.path.join(workdir, "pretrain/best.weights.h5"))
  masks = load_masks(os.path.join(workdir, "mask/binary_masks.npz"))
  assert set(masks) == set(masked_model.prunable_layer_names(network))
  kernels = np.concatenate([np.abs(network.get_layer(name).get_weights()[0])
                            .ravel() for name in masks])
  kept = np.concatenate([masks[name].ravel() for name in masks])
  assert kept.sum() == kernels.size - int(round(0.6 * kernels.size))
  assert kernels[kept == 1].min() >= kernels[kept == 0].max()
  per_layer = [masks[name].mean() for name in masks]
  assert max(per_layer) - min(per_layer) > 0.05  # not 40% of each layer


@pytest.mark.parametrize("criterion", ["l1_filter", "group_norm"])
def test_channel_criteria_close_exactly_the_weakest_groups(tmp_path,
                                                           criterion):
  """Stage 2 with a channel criterion (float64 group scores) saves float32
  gates that keep exactly the top half of every group by its score (the
  stage's own function, in this process: a one-shot criterion traces no
  search step, so a CLI run would spend its time starting TensorFlow and
  pre-training)."""
  tf_keras.utils.set_random_seed(0)
  network = build_model("resnet18", (28, 28, 1), 10, 0.0625)
  rng = np.random.default_rng(0)
  for layer in network.layers:  # BatchNorm's init (gamma 1) ties groups
    if isinstance(layer, tf_keras.layers.BatchNormalization):
      gamma, beta, mean, variance = layer.get_weights()
      layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype(
          np.float32), beta, mean, variance])
  data = pipeline.load(DataConfig(train_subset=256, eval_subset=128,
                                  batch_size=64))
  report = run_mask_search(network, data, layerwise_search(
      method=criterion, granularity="channel", sparsity=0.5,
      recalibration_batches=2), str(tmp_path), seed=0)
  assert report["binary_sparsity"] == pytest.approx(0.5, abs=0.01)
  scores = masked_model.channel_group_scores(network, criterion)
  masks = load_masks(os.path.join(tmp_path, "mask/binary_masks.npz"))
  assert set(masks) == set(scores) and len(masks) > 5
  for owner, mask in masks.items():
    score = scores[owner]
    assert mask.dtype == np.float32, owner
    assert mask.sum() == score.size - int(round(0.5 * score.size)), owner
    assert score[mask == 1].min() >= score[mask == 0].max(), owner


@pytest.mark.parametrize("arch", ["resnet18", "vit"])
def test_taylor_scores_are_squared_gate_gradients(arch):
  """(dL/dgate)^2 at gates of 1 (BatchNorm on moving statistics), checked
  against forward-mode derivatives of the cross-entropy on one batch (an
  autodiff path independent of the scores' reverse-mode tape) and, for the
  ViT, whose GELU network is smooth, against central differences too. (The
  ResNet's ReLU kinks bias float32 central differences: at eps 1e-3 one
  gate's was 9% off on an AVX2 machine, within 5% on AVX-512.)"""
  from csam_tf.models.vit_config import ViTConfig  # pylint: disable=import-outside-toplevel
  tf_keras.utils.set_random_seed(0)
  network = build_model(arch, (12, 12, 1), 4, 0.25, ViTConfig(
      patch_size=4, dim=16, depth=1, heads=4))
  model = masked_model.to_masked_model(network, "channel")
  rng = np.random.default_rng(0)
  images = rng.random((16, 12, 12, 1)).astype(np.float32)
  labels = rng.integers(0, 4, 16)
  scores = baseline_masks.taylor_scores(model, [(images, labels)] * 3, 2)
  layers = masked_layers(model)

  def loss():
    return tf.reduce_mean(
        tf_keras.losses.sparse_categorical_crossentropy(
            labels, model(images, training=False), from_logits=True))

  eps = 1e-3
  for layer, score in list(zip(layers, scores))[:2]:
    assert np.all(layer.soft_mask.numpy() == 1.0)   # scored at the dense net
    for index in range(2):
      direction = np.zeros(layer.soft_mask.shape, np.float32)
      direction[index] = 1.0
      with tf.autodiff.ForwardAccumulator(
          layer.soft_mask, tf.constant(direction)) as forward:
        value = loss()
      np.testing.assert_allclose(np.sqrt(score[index]),
                                 abs(float(forward.jvp(value))), rtol=1e-4,
                                 atol=1e-7, err_msg=f"{layer.name}[{index}]")
      if arch != "vit":
        continue
      gate = np.ones(layer.soft_mask.shape, np.float32)
      gate[index] = 1 + eps
      layer.soft_mask.assign(gate)
      up = float(loss())
      gate[index] = 1 - eps
      layer.soft_mask.assign(gate)
      down = float(loss())
      layer.soft_mask.assign(np.ones_like(gate))
      np.testing.assert_allclose(np.sqrt(score[index]),
                                 abs(up - down) / (2 * eps), rtol=0.05,
                                 atol=1e-4, err_msg=f"{layer.name}[{index}]")
