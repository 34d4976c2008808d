"""BatchNorm re-estimation under a mask: the moving statistics become the
average of the batches' statistics (by hand), nothing else changes."""

import numpy as np
import tensorflow as tf
import tf_keras

from csam_tf.masking.recalibrate import recalibrate_batchnorm


def _conv_bn():
  tf_keras.utils.set_random_seed(0)
  inputs = tf_keras.Input((6, 6, 2))
  x = tf_keras.layers.Conv2D(3, 3, use_bias=False)(inputs)
  x = tf_keras.layers.BatchNormalization()(x)
  outputs = tf_keras.layers.Dense(2)(tf_keras.layers.Flatten()(x))
  model = tf_keras.Model(inputs, outputs)
  bn = model.layers[2]
  bn.moving_mean.assign([5.0, 5.0, 5.0])  # stale statistics to replace
  bn.moving_variance.assign([9.0, 9.0, 9.0])
  bn.trainable = False  # frozen, as in the mask search
  return model, bn


def test_moving_statistics_become_the_average_over_the_batches():
  model, bn = _conv_bn()
  rng = np.random.default_rng(0)
  batches = [rng.normal(i, 1.0 + i, (4, 6, 6, 2)).astype(np.float32)
             for i in range(3)]
  kernel = model.layers[1].kernel.numpy()
  means, variances = [], []
  for batch in batches:  # the BatchNorm's input: the conv's output
    conv = tf.nn.conv2d(batch, kernel, 1, "VALID").numpy().reshape(-1, 3)
    means.append(conv.mean(0))
    variances.append(conv.var(0, ddof=1))  # unbiased, as the fused op keeps
  frozen = {v.name: v.numpy().copy() for v in model.weights
            if "moving" not in v.name}
  used = recalibrate_batchnorm(model, iter(batches + batches), batches=3)
  assert used == 3
  np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(means, 0),
                             rtol=1e-5)
  np.testing.assert_allclose(bn.moving_variance.numpy(),
                             np.mean(variances, 0), rtol=1e-4)
  for v in model.weights:  # kernels, gamma and beta untouched
    if v.name in frozen:
      np.testing.assert_array_equal(v.numpy(), frozen[v.name])
  assert bn.trainable is False and bn.momentum == 0.99  # restored


def test_the_forward_decides_what_the_statistics_see():
  """The caller applies the masks: a forward that zeroes the input gives
  the statistics of a zero input (mean 0, variance 0)."""
  model, bn = _conv_bn()
  batches = [np.ones((4, 6, 6, 2), np.float32)] * 2
  recalibrate_batchnorm(model, batches,
                        lambda x: model(x * 0.0, training=True))
  np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)
  np.testing.assert_array_equal(bn.moving_variance.numpy(), 0.0)


def test_under_a_strategy_the_statistics_are_the_same():
  """Under tf.distribute the passes run in a replica's context (reading
  the synchronised-on-read statistics from outside is an all-reduce per
  read): same average as without a strategy, on every replica's copy."""
  batches = [np.random.default_rng(i).normal(i, 1.0, (4, 6, 6, 2))
             .astype(np.float32) for i in range(3)]
  model, bn = _conv_bn()
  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  with strategy.scope():
    replicated, replicated_bn = _conv_bn()
  replicated.set_weights(model.get_weights())  # stale statistics too
  recalibrate_batchnorm(model, batches)
  with strategy.scope():
    assert recalibrate_batchnorm(replicated, batches) == 3
  assert len(replicated_bn.moving_mean.values) == 1
  assert not np.allclose(bn.moving_mean.numpy(), 5.0)
  for mine, theirs in ((replicated_bn.moving_mean, bn.moving_mean),
                       (replicated_bn.moving_variance, bn.moving_variance)):
    for copy in mine.values:
      np.testing.assert_allclose(copy.numpy(), theirs.numpy(), rtol=1e-6)
