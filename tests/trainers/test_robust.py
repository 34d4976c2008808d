"""The robust objective on the weights: the consistency term and the loss
equal their numpy definitions (Jeong & Shin's consistency.py), one step
descends that loss, views come from (seed, step, view), worst-of-k keeps
the highest-loss draw, the ramp and the bounded ratio term act when they
should, and both stages run it from the command line."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import (BENCH_TINY, copy_pretrained_workdir, linear_problem,
                      run_cli, softmax)
from csam_tf.masking import losses
from csam_tf.transforms import plugin
from csam_tf.transforms import semantic as transforms
from trainers.cross_entropy import compile_trainer
from trainers.robust import RobustTrainer
from trainers.robust_config import RobustConfig

SEED = 7


_softmax = softmax


def _hand_consistency(logits, weight, entropy):
  """lambda * (1/m) sum_i KL(pbar || p_i) + eta * H(pbar), batch mean,
  from the definitions."""
  p = _softmax(logits)                     # [m, batch, classes]
  pbar = p.mean(0)
  kl = np.mean([np.sum(pbar * (np.log(pbar) - np.log(p_i)), -1) for p_i in p],
               axis=0)
  h = -np.sum(pbar * np.log(pbar), -1)
  return float(np.mean(weight * kl + entropy * h))


def test_view_consistency_is_the_hand_computed_one():
  logits = np.array([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]],
                     [[1.0, 1.0, -1.0], [0.0, 2.0, 0.0]],
                     [[0.0, 3.0, 0.0], [0.5, 0.0, 0.0]]], np.float32)
  got = float(losses.view_consistency(tf.constant(logits), 5.0, 0.5))
  assert got == pytest.approx(_hand_consistency(logits, 5.0, 0.5), rel=1e-5)
  # identical views: KL 0, only the entropy of the (common) prediction
  same = np.repeat(logits[:1], 3, axis=0)
  p = _softmax(logits[0])
  assert float(losses.view_consistency(tf.constant(same), 5.0, 0.5)) == (
      pytest.approx(0.5 * np.mean(-np.sum(p * np.log(p), -1)), rel=1e-5))


_problem = linear_problem


def _view(images, step, view, draw=None):
  """T_view(images) drawn as the trainer must: from fold_in((SEED, step),
  view) (and fold_in(that, draw) for worst-of-k's draws)."""
  seed = tf.random.experimental.stateless_fold_in(
      tf.constant([SEED, step], tf.int64), view)
  if draw is not None:
    seed = tf.random.experimental.stateless_fold_in(seed, draw)
  transform = plugin.load("composite")
  return transforms.random_transform(
      tf.constant(images), plugin.level_ranges(transform, "L2"), seed,
      transform.apply).numpy()


def _hand_loss(kernel, views, labels, weight, entropy):
  logits = np.stack([v.reshape(len(v), -1) @ kernel for v in views])
  p = _softmax(logits)
  ce = -np.mean(np.log(p[:, np.arange(len(labels)), labels]))
  return ce + _hand_consistency(logits, weight, entropy)


def test_the_loss_is_cross_entropy_over_the_views_plus_consistency():
  network, kernel, images, labels = _problem()
  trainer = RobustTrainer(network, RobustConfig(weight=5.0, entropy=0.5,
                                                views=2), SEED)
  views = [images, _view(images, 0, 0), _view(images, 0, 1)]
  loss, consistency, _, logits = trainer.objective(
      [tf.constant(v) for v in views], labels, 0)
  assert float(loss) == pytest.approx(
      _hand_loss(kernel, views, labels, 5.0, 0.5), rel=1e-5)
  clean_logits = images.reshape(4, -1) @ kernel
  np.testing.assert_allclose(logits.numpy(), clean_logits, atol=1e-5)
  assert float(consistency) > 0


def test_one_step_descends_that_loss_on_views_from_seed_and_step():
  network, kernel, images, labels = _problem()
  trainer = RobustTrainer(network, RobustConfig(weight=5.0, entropy=0.5,
                                                views=2), SEED)
  compile_trainer(trainer, tf_keras.optimizers.SGD(0.5))
  logs = trainer.train_on_batch(images, labels, return_dict=True)
  views = [images, _view(images, 0, 0), _view(images, 0, 1)]
  assert logs["loss"] == pytest.approx(
      _hand_loss(kernel, views, labels, 5.0, 0.5), rel=1e-5)
  variable = tf.Variable(kernel)
  with tf.GradientTape() as tape:
    logits = tf.stack([tf.reshape(v, (4, -1)) @ variable for v in views])
    log_p = tf.nn.log_softmax(logits)
    pbar = tf.reduce_mean(tf.exp(log_p), 0)
    ce = -tf.reduce_mean(tf.reduce_sum(log_p * tf.one_hot(labels, 3), -1))
    kl = tf.reduce_mean(tf.reduce_sum(
        pbar * (tf.math.log(pbar) - log_p), -1), 0)
    h = -tf.reduce_sum(pbar * tf.math.log(pbar), -1)
    loss = ce + tf.reduce_mean(5.0 * kl + 0.5 * h)
  expected = kernel - 0.5 * tape.gradient(loss, variable).numpy()
  np.testing.assert_allclose(network.get_weights()[0], expected, atol=1e-5)
  assert set(logs) == {"loss", "accuracy", "consistency"}


def test_views_differ_between_steps_and_repeat_for_the_same_step():
  network, _, images, labels = _problem()
  trainer = RobustTrainer(network, RobustConfig(views=2), SEED)
  at = lambda step: [v.numpy() for v in trainer.draw_views(
      tf.constant(images), labels, tf.constant([SEED, step], tf.int64))]
  step0, step1, again = at(0), at(1), at(0)
  np.testing.assert_array_equal(step0[0], images)        # the clean view
  np.testing.assert_allclose(step0[1], _view(images, 0, 0), atol=0)
  np.testing.assert_allclose(step1[2], _view(images, 1, 1), atol=0)
  assert not np.allclose(step0[1], step0[2])   # two views, two draws
  assert not np.allclose(step0[1], step1[1])   # two steps, two draws
  for a, b in zip(step0, again):               # a resumed step: the same
    np.testing.assert_array_equal(a, b)


def test_worst_of_k_keeps_per_image_the_draw_with_the_highest_loss():
  network, kernel, images, labels = _problem()
  trainer = RobustTrainer(network, RobustConfig(views=1, worst_of=3), SEED)
  views = trainer.draw_views(tf.constant(images), labels,
                             tf.constant([SEED, 0], tf.int64))
  draws = np.stack([_view(images, 0, 0, j) for j in range(3)])
  p = _softmax(draws.reshape(3, 4, -1) @ kernel)
  worst = np.argmax(-np.log(p[:, np.arange(4), labels]), axis=0)
  np.testing.assert_allclose(views[1].numpy(), draws[worst, np.arange(4)],
                             atol=0)
  assert len(set(worst.tolist())) > 1 or worst[0] != 0  # not always draw 0


def test_the_ramp_rises_linearly_to_the_weight():
  network, *_ = _problem()
  trainer = RobustTrainer(network, RobustConfig(weight=4.0, ramp=0.5), SEED,
                          total_steps=8)
  assert [float(trainer.weight_at(s)) for s in range(6)] == [
      1.0, 2.0, 3.0, 4.0, 4.0, 4.0]
  with pytest.raises(ValueError, match="needs total_steps"):
    RobustTrainer(network, RobustConfig(ramp=0.5), SEED)


def test_the_bounded_ratio_counts_right_images_only_and_waits_to_start():
  network, kernel, images, labels = _problem()
  trainer = RobustTrainer(network, RobustConfig(
      weight=0.0, entropy=0.0, views=1, ratio_weight=3.0, ratio_clip=2.0,
      ratio_start=0.5), SEED, total_steps=10)
  transformed = _view(images, 0, 0)
  p_x = _softmax(images.reshape(4, -1) @ kernel)
  p_tx = _softmax(transformed.reshape(4, -1) @ kernel)
  top = np.sort(p_x, 1)[:, ::-1]
  r = np.minimum(np.abs(p_x - p_tx).max(1) /
                 ((top[:, 0] - top[:, 1]) / 2 + 1e-6), 2.0)
  right = np.argmax(p_x, 1) == labels
  assert 0 < right.sum() < 4   # some right, some wrong: the mask matters
  expected = np.sum(right * np.log1p(np.exp(r - 1.0))) / 4
  views = [tf.constant(images), tf.constant(transformed)]
  ce = -np.mean(np.log(np.stack([p_x, p_tx])[:, np.arange(4), labels]))
  for step, on in ((4, 0.0), (5, 1.0)):
    loss, _, ratio, _ = trainer.objective(views, labels, step)
    assert float(ratio) == pytest.approx(expected, rel=1e-5)
    assert float(loss) == pytest.approx(ce + on * 3.0 * expected, rel=1e-5)


@pytest.mark.parametrize("settings,message", [
    ({"views": 0}, "views must be at least 1"),
    ({"views": 1, "clean_view": False}, "needs two views"),
    ({"worst_of": 0}, "worst_of must be at least 1"),
    ({"ratio_weight": 0.5, "clean_view": False}, "keep the clean view"),
    ({"ramp": 1.5}, "ramp is a fraction"),
    ({"entropy": -1.0}, "entropy must be >= 0"),
])
def test_settings_that_cannot_work_are_refused(settings, message):
  with pytest.raises(ValueError, match=message):
    RobustConfig(**settings)


@pytest.mark.heavy(20)
def test_fine_tuning_tfmot_pruning_on_the_robust_objective(
    tmp_path, tiny_dense_workdir):
  workdir = copy_pretrained_workdir(tiny_dense_workdir, str(tmp_path / "run"))
  result = run_cli(f"--workdir={workdir}", *BENCH_TINY, "--stages=finetune",
                   "--finetune_pruning=polynomial_decay", "--sparsity=0.5",
                   "--finetune_objective=robust", "--robust_lambda=3",
                   "--robust_worst_of=2", "--finetune_epochs=1",
                   "--finetune_steps_per_epoch=4")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "finetune 1 epochs x 4 steps (robust, 2 views)" in result.stdout
  with open(os.path.join(workdir, "report.json")) as f:
    finetune = json.load(f)["stages"]["finetune"]
  assert finetune["objective"] == "robust"
  assert finetune["robust"]["weight"] == 3.0
  assert finetune["robust"]["worst_of"] == 2
  assert finetune["sparsity"] == pytest.approx(0.5, abs=1e-3)
  assert finetune["last_epoch_logs"]["consistency"] > 0.0


def test_each_step_draws_its_own_views_and_a_resumed_step_the_same():
  from conftest import losses_by_step  # pylint: disable=import-outside-toplevel
  network, kernel, images, labels = _problem()
  trainer = RobustTrainer(network, RobustConfig(weight=5.0, views=2), SEED)
  compile_trainer(trainer, tf_keras.optimizers.SGD(0.5))
  losses = losses_by_step(trainer, network.trainable_variables, images,
                          labels, (3, 3, 4))
  assert losses[0] == losses[1] != losses[2]
  views = [images, _view(images, 4, 0), _view(images, 4, 1)]
  assert losses[2] == pytest.approx(
      _hand_loss(kernel, views, labels, 5.0, 0.5), rel=1e-5)


def test_pre_training_on_the_robust_objective(tmp_path):
  workdir = str(tmp_path / "run")
  result = run_cli(f"--workdir={workdir}", *BENCH_TINY, "--stages=pretrain",
                   "--pretrain_epochs=1", "--pretrain_objective=robust",
                   "--robust_views=1")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "pretrain 1 epochs x 8 steps (robust, 2 views)" in result.stdout
  with open(os.path.join(workdir, "report.json")) as f:
    pretrain = json.load(f)["stages"]["pretrain"]
  assert pretrain["objective"] == "robust"
  assert pretrain["robust"]["views"] == 1
  logs = pretrain["last_epoch_logs"]
  # the loss is the views' cross-entropy plus the consistency term
  assert logs["consistency"] > 0 and logs["loss"] > logs["consistency"]
