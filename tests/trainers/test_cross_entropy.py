"""Plain and SAM cross-entropy trainers: one step of each equals the update
computed by hand on a linear model."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from csam_tf.masking.losses import cross_entropy
from trainers.cross_entropy import compile_trainer, cross_entropy_trainer


def _linear_problem():
  inputs = tf_keras.Input((3,))
  network = tf_keras.Model(inputs, tf_keras.layers.Dense(
      2, use_bias=False, kernel_initializer=tf_keras.initializers.Constant(
          [[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2]]))(inputs))
  images = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0]], np.float32)
  labels = np.array([0, 1], np.int32)
  return network, images, labels


def _gradient(kernel, images, labels):
  kernel = tf.Variable(kernel)
  with tf.GradientTape() as tape:
    loss = cross_entropy(labels, tf.matmul(images, kernel))
  return tape.gradient(loss, kernel).numpy()


@pytest.mark.parametrize("rho", [0.0, 0.05])
def test_one_step_matches_the_hand_computed_update(rho):
  network, images, labels = _linear_problem()
  kernel = network.get_weights()[0]
  gradient = _gradient(kernel, images, labels)
  # SAM ascends to w + rho g / |g| and steps with that point's gradient
  # (its logged loss averages both passes'); rho = 0 is plain SGD.
  point = kernel + rho * gradient / np.linalg.norm(gradient)
  gradient = _gradient(point, images, labels)
  trainer = cross_entropy_trainer(network, rho)
  compile_trainer(trainer, tf_keras.optimizers.SGD(0.1))
  logs = trainer.train_on_batch(images, labels, return_dict=True)
  np.testing.assert_allclose(network.get_weights()[0],
                             kernel - 0.1 * gradient, atol=1e-6)
  assert set(logs) >= {"loss", "accuracy"}
  passes = [float(cross_entropy(labels, tf.matmul(images, w)))
            for w in (kernel, point)]
  assert logs["loss"] == pytest.approx(np.mean(passes), rel=1e-5)


def test_sam_moves_the_weights_differently_from_plain_sgd():
  updates = []
  for rho in (0.0, 0.5):
    network, images, labels = _linear_problem()
    trainer = cross_entropy_trainer(network, rho)
    compile_trainer(trainer, tf_keras.optimizers.SGD(0.1))
    trainer.train_on_batch(images, labels)
    updates.append(network.get_weights()[0])
  assert np.abs(updates[0] - updates[1]).max() > 1e-3
