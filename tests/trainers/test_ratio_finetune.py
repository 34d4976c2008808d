"""Fine-tuning with the ratio term on the weights: the loss equals the
hand-computed cross-entropy + weight * softplus(min(r, clip) - eta), one
step is SGD on that loss's gradient with T drawn from (seed, step), and a
run fine-tunes tfmot's masks with it."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import (BENCH_TINY, copy_pretrained_workdir, linear_problem,
                      run_cli, softmax)
from csam_tf.transforms import plugin
from csam_tf.transforms import semantic as transforms
from trainers.cross_entropy import compile_trainer
from trainers.ratio_finetune import RatioFinetuneTrainer

SEED = 7


_problem = linear_problem


_softmax = softmax


def _hand_loss(kernel, images, transformed, labels, weight, eta, clip):
  """The loss written out in numpy, from the definitions (C-SAM core
  issue): CE on x; r = max|p(x) - p(T(x))| / ((p1 - p2) / 2 + 1e-6)."""
  p_x = _softmax(images.reshape(4, -1) @ kernel)
  p_tx = _softmax(transformed.reshape(4, -1) @ kernel)
  ce = -np.mean(np.log(p_x[np.arange(4), labels]))
  top = np.sort(p_x, axis=1)[:, ::-1]
  r = np.abs(p_x - p_tx).max(1) / ((top[:, 0] - top[:, 1]) / 2 + 1e-6)
  r = np.minimum(r, clip)
  return ce + weight * np.mean(np.log1p(np.exp(r - eta)))


def _transformed(images, step):
  transform = plugin.load("composite")
  ranges = plugin.level_ranges(transform, "L2")
  return transforms.random_transform(
      tf.constant(images), ranges, tf.constant([SEED, step], tf.int64),
      transform.apply).numpy()


@pytest.mark.parametrize("clip", [10.0, 0.5])
def test_the_loss_is_the_hand_computed_one(clip):
  network, kernel, images, labels = _problem()
  transformed = _transformed(images, 0)
  trainer = RatioFinetuneTrainer(network, 2.0, 1.0, clip, "composite", "L2",
                                 SEED)
  loss, ce, ratio, _ = trainer.objective(tf.constant(images),
                                         tf.constant(transformed), labels)
  expected = _hand_loss(kernel, images, transformed, labels, 2.0, 1.0, clip)
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  assert float(loss) == pytest.approx(float(ce) + 2.0 * float(ratio))
  assert float(ratio) > 0.3  # softplus(r - 1) >= softplus(-1) = 0.31


def test_one_step_descends_that_loss_with_t_from_seed_and_step():
  network, kernel, images, labels = _problem()
  trainer = RatioFinetuneTrainer(network, 2.0, 1.0, 10.0, "composite", "L2",
                                 SEED)
  compile_trainer(trainer, tf_keras.optimizers.SGD(0.5))
  logs = trainer.train_on_batch(images, labels, return_dict=True)
  transformed = _transformed(images, 0)  # the optimizer's step was 0
  assert logs["loss"] == pytest.approx(
      _hand_loss(kernel, images, transformed, labels, 2.0, 1.0, 10.0),
      rel=1e-5)
  variable = tf.Variable(kernel)
  with tf.GradientTape() as tape:
    p_x, p_tx = (tf.nn.softmax(tf.reshape(x, (4, -1)) @ variable)
                 for x in (images, transformed))
    top = tf.math.top_k(p_x, 2).values
    r = tf.minimum(tf.reduce_max(tf.abs(p_x - p_tx), 1) /
                   ((top[:, 0] - top[:, 1]) / 2 + 1e-6), 10.0)
    loss = (tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels, tf.math.log(p_x))) +
            2.0 * tf.reduce_mean(tf.math.softplus(r - 1.0)))
  expected = kernel - 0.5 * tape.gradient(loss, variable).numpy()
  np.testing.assert_allclose(network.get_weights()[0], expected, atol=1e-5)
  assert set(logs) >= {"loss", "accuracy", "ratio"}


def test_a_run_fine_tunes_magnitude_pruning_with_the_ratio_term(
    tmp_path, tiny_dense_workdir):
  workdir = copy_pretrained_workdir(tiny_dense_workdir, str(tmp_path / "run"))
  result = run_cli(f"--workdir={workdir}", *BENCH_TINY, "--stages=finetune",
                   "--finetune_pruning=polynomial_decay", "--sparsity=0.5",
                   "--finetune_ratio_weight=1", "--finetune_epochs=1",
                   "--finetune_steps_per_epoch=4")
  assert result.returncode == 0, result.stderr[-2000:]
  with open(os.path.join(workdir, "report.json")) as f:
    finetune = json.load(f)["stages"]["finetune"]
  assert finetune["sparsity"] == pytest.approx(0.5, abs=1e-3)
  # the term was on: its epoch mean lies where softplus(min(r, 10) - 1)
  # can (r >= 0), and the loss is the cross-entropy plus it (weight 1)
  logs = finetune["last_epoch_logs"]
  assert np.log1p(np.exp(-1.0)) <= logs["ratio"] <= np.log1p(np.exp(9.0))
  assert logs["loss"] > logs["ratio"]


def test_each_step_draws_its_own_t_and_a_resumed_step_the_same():
  from conftest import losses_by_step  # pylint: disable=import-outside-toplevel
  network, kernel, images, labels = _problem()
  trainer = RatioFinetuneTrainer(network, 2.0, 1.0, 10.0, "composite", "L2",
                                 SEED)
  compile_trainer(trainer, tf_keras.optimizers.SGD(0.5))
  losses = losses_by_step(trainer, network.trainable_variables, images,
                          labels, (3, 3, 4))
  assert losses[0] == losses[1] != losses[2]
  assert losses[2] == pytest.approx(_hand_loss(
      kernel, images, _transformed(images, 4), labels, 2.0, 1.0, 10.0),
      rel=1e-5)
