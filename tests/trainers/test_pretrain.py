"""Stage-1 trainer pieces: the loss, the optimizer's weight decay, and a
train_step that learns."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from csam_tf.models import build_model
from trainers import pretrain
from trainers.pretrain_config import PretrainConfig


def test_cosine_schedule_with_warmup():
  cfg = PretrainConfig(epochs=4, learning_rate=0.2, warmup_epochs=1)
  optimizer = pretrain.make_optimizer(cfg, steps_per_epoch=10)
  schedule = optimizer._learning_rate  # the schedule object itself
  assert float(schedule(0)) == pytest.approx(0.0)
  assert float(schedule(10)) == pytest.approx(0.2)
  assert float(schedule(25)) == pytest.approx(0.1, rel=1e-4)  # mid-decay
  assert float(schedule(40)) == pytest.approx(0.0, abs=1e-7)


def test_weight_decay_skips_batchnorm_and_biases():
  network = build_model("resnet18", (8, 8, 1), 3, width_multiplier=0.0625)
  cfg = PretrainConfig(learning_rate=0.1, momentum=0.0, weight_decay=0.01)
  optimizer = pretrain.make_optimizer(cfg, steps_per_epoch=100)
  variables = network.trainable_variables
  before = [v.numpy().copy() for v in variables]
  optimizer.apply_gradients(
      [(tf.zeros_like(v), v) for v in variables])
  for v, old in zip(variables, before):
    if "_bn/" in v.name or "bias" in v.name:
      np.testing.assert_array_equal(v.numpy(), old)
    else:  # decoupled decay: w <- w - lr * wd * w
      np.testing.assert_allclose(v.numpy(), old * (1 - 0.1 * 0.01),
                                 rtol=1e-6)


def test_train_step_learns_a_separable_problem():
  tf_keras.utils.set_random_seed(0)
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 64).astype(np.int32)
  images = np.zeros((64, 8, 8, 1), np.float32)
  images[labels == 1, :4] = 1.0  # class 1: bright top half
  network = build_model("resnet18", (8, 8, 1), 2, width_multiplier=0.0625)
  trainer = pretrain.CrossEntropyTrainer(network)
  trainer.compile(optimizer=tf_keras.optimizers.Adam(0.01))
  history = trainer.fit(images, labels, batch_size=32, epochs=15, verbose=0)
  assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
  assert history.history["accuracy"][-1] == 1.0
