"""Cross-entropy training of a network, with plain or sharpness-aware
(SAM) updates.

`CrossEntropyTrainer` is stage 1's and stage 3's trainer. The SAM baselines
(`sam_then_prune`, `prune_then_sam`) train the same network on the same
batches; only the update differs, and it is tf_keras' own
`SharpnessAwareMinimization` (what a Keras user reaches for), not a
re-implementation.
"""

import tensorflow as tf
import tf_keras

from csam_tf.masking.losses import cross_entropy


class CrossEntropyTrainer(tf_keras.Model):
  """Wraps the network; `train_step` is plain cross-entropy."""

  def __init__(self, network: tf_keras.Model, **kwargs):
    super().__init__(**kwargs)
    self.network = network
    self.loss_tracker = tf_keras.metrics.Mean(name="loss")
    self.accuracy = tf_keras.metrics.SparseCategoricalAccuracy(
        name="accuracy")

  @property
  def metrics(self):
    return [self.loss_tracker, self.accuracy]

  def call(self, images, training=False):
    return self.network(images, training=training)

  def training_loss(self, images, labels):
    """(loss, logits) of one training batch; subclasses add terms."""
    logits = self.network(images, training=True)
    return cross_entropy(labels, logits), logits

  def train_step(self, data):
    images, labels = data
    with tf.GradientTape() as tape:
      loss, logits = self.training_loss(images, labels)
      # Replicas' gradients are summed: each contributes its share of the
      # global-batch mean.
      replica_loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
    variables = self.network.trainable_variables
    self.optimizer.apply_gradients(zip(tape.gradient(replica_loss, variables),
                                       variables))
    return self._update_metrics(loss, labels, logits)

  def test_step(self, data):
    images, labels = data
    logits = self.network(images, training=False)
    return self._update_metrics(cross_entropy(labels, logits), labels, logits)

  def _update_metrics(self, loss, labels, logits):
    self.loss_tracker.update_state(loss)
    self.accuracy.update_state(labels, logits)
    return {m.name: m.result() for m in self.metrics}


def cross_entropy_trainer(network: tf_keras.Model, sam_rho: float = 0.0
                          ) -> tf_keras.Model:
  """The trainer of `network`: SAM with radius `sam_rho`, or plain (0)."""
  if sam_rho > 0:
    return tf_keras.models.experimental.SharpnessAwareMinimization(
        network, rho=sam_rho)
  return CrossEntropyTrainer(network)


def compile_trainer(trainer: tf_keras.Model, optimizer=None) -> None:
  """Compiles either trainer so that fit/evaluate report `loss` and
  `accuracy` (SAM's `train_step` reads the compiled loss and metrics)."""
  if isinstance(trainer, CrossEntropyTrainer):
    trainer.compile(optimizer=optimizer)
    return
  trainer.compile(
      optimizer=optimizer,
      loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      metrics=[tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
