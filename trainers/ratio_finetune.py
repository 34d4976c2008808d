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

from csam_tf.masking import losses
from csam_tf.transforms import plugin
from trainers.cross_entropy import CrossEntropyTrainer
from trainers.step_seed import replica_step_seed


class RatioFinetuneTrainer(CrossEntropyTrainer):
  """loss = CE(x) + weight * mean softplus(min(r, clip) - eta); the update
  is CrossEntropyTrainer's."""

  def __init__(self, network: tf_keras.Model, weight: float, eta: float,
               clip: float, family: str, level: str, seed: int, **kwargs):
    super().__init__(network, **kwargs)
    self.weight, self.eta, self.clip, self.seed = weight, eta, clip, seed
    self.ratio_tracker = tf_keras.metrics.Mean(name="ratio")
    self._draw_transform = plugin.train_step_drawer(family, level)

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

  def training_loss(self, images, labels):
    """The objective on the batch and T(batch), T drawn from (seed, step)
    (each replica its own)."""
    transformed = self._draw_transform(
        images, replica_step_seed(self.seed, self.optimizer.iterations))
    loss, _, ratio, logits = self.objective(images, transformed, labels)
    self.ratio_tracker.update_state(ratio)
    return loss, logits
