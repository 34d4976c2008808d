"""Stage 3 with the certificate's quantity in the loss: cross-entropy plus
the mask search's ratio term, now on the weights (opt-in,
`--finetune_ratio_weight`).

Why: at the benchmark's budget C-SAM's masks are more certifiable than
magnitude pruning's before fine-tuning, and 30 steps of plain
cross-entropy fine-tuning erase the lead (BENCHMARKS.md, issue 14). This
trainer keeps pushing r = ||p(x) - p(T(x))||_inf / (margin / 2) down while
the weights move. It fine-tunes whatever masks it is given (C-SAM's fixed
ones or tfmot's gradual magnitude pruning), so a comparison run with the
same flag stays a comparison of masks.

One forward pass on [x, T(x)] in training mode: BatchNorm normalises the
clean and the transformed images together, as the mask search's noisy
passes do (trainers/mask_search.py says why); the cross-entropy is on x.
"""

import tensorflow as tf
import tf_keras

from csam_tf import losses
from csam_tf.transforms import plugin
from csam_tf.transforms import semantic as transforms
from trainers.cross_entropy import CrossEntropyTrainer


class RatioFinetuneTrainer(CrossEntropyTrainer):
  """loss = CE(x) + weight * mean softplus(min(r, clip) - eta)."""

  def __init__(self, network: tf_keras.Model, weight: float, eta: float,
               clip: float, family: str, level: str, seed: int, **kwargs):
    super().__init__(network, **kwargs)
    self.weight, self.eta, self.clip, self.seed = weight, eta, clip, seed
    self.ratio_tracker = tf_keras.metrics.Mean(name="ratio")
    transform = plugin.load(family)
    ranges = plugin.level_ranges(transform, level)
    self._draw_transform = lambda images, seed: transforms.random_transform(
        images, ranges, seed, transform.apply)
    if plugin.is_plugin(family):  # autograph for a plug-in's apply
      self._draw_transform = tf.function(self._draw_transform)

  @property
  def metrics(self):
    return [self.loss_tracker, self.accuracy, self.ratio_tracker]

  def objective(self, images, transformed, labels):
    """(loss, cross-entropy, ratio term, logits of x) of one batch and its
    transformed copy."""
    logits = self.network(tf.concat([images, transformed], axis=0),
                          training=True)
    logits_x, logits_tx = tf.split(logits, 2, axis=0)
    ce = losses.cross_entropy(labels, logits_x)
    ratio = losses.ratio_loss(tf.nn.softmax(logits_x),
                              tf.nn.softmax(logits_tx), self.eta,
                              clip=self.clip)
    return ce + self.weight * ratio, ce, ratio, logits_x

  def train_step(self, data):
    images, labels = data
    seed = tf.stack([tf.constant(self.seed, tf.int64),
                     tf.cast(self.optimizer.iterations, tf.int64)])
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:  # each replica its own T
      seed = tf.random.experimental.stateless_fold_in(
          seed, tf.distribute.get_replica_context().replica_id_in_sync_group)
    transformed = self._draw_transform(images, seed)
    with tf.GradientTape() as tape:
      loss, _, ratio, logits = self.objective(images, transformed, labels)
      replica_loss = loss / replicas
    variables = self.network.trainable_variables
    self.optimizer.apply_gradients(zip(tape.gradient(replica_loss, variables),
                                       variables))
    self.ratio_tracker.update_state(ratio)
    return self._update_metrics(loss, labels, logits)
