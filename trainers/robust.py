"""The robust objective on the weights: cross-entropy over views of each
image drawn from the certificate's own transformation, plus consistency
regularisation (Jeong & Shin 2020, jh-jeong/smoothing-consistency):

  loss = mean_i CE(p_i, y) + weight * (1/m) sum_i KL(pbar || p_i)
         + entropy * H(pbar)

over the views i (the clean image and `views` transformed copies), pbar
their mean softmax. Why: CC-Cert certifies an image when the
transformation moves the softmax less than half the top-2 margin; the KL
term pulls the transformed predictions together and the entropy term
widens the margin. At 50-90% sparsity the certificate of a shipped model is
set by how its weights are trained (BENCHMARKS.md), so stage 1 and stage 3
of every method can train this way (`--pretrain_objective=robust`,
`--finetune_objective=robust`).

Variants (RobustConfig): each view the worst of k draws (Engstrom et al.'s
worst-of-k), a linear ramp of the weight, and the mask search's ratio term
bounded (capped, on correctly classified images only, switched on after a
fraction of the steps).

One forward pass on all views in training mode: BatchNorm normalises them
together, as the ratio fine-tuning and the mask search's noisy passes do.
"""

import tensorflow as tf
import tf_keras

from csam_tf.masking import losses
from csam_tf.transforms import plugin
from trainers.cross_entropy import CrossEntropyTrainer
from trainers.robust_config import RobustConfig
from trainers.step_seed import replica_step_seed


class RobustTrainer(CrossEntropyTrainer):
  """`train_step` on the robust objective; the update (and `fit`,
  `evaluate`, tfmot's callbacks) is CrossEntropyTrainer's. `total_steps`
  (the steps `fit` will take) places the ramp and the ratio term's start;
  it may be 0 when neither is used."""

  def __init__(self, network: tf_keras.Model, cfg: RobustConfig, seed: int,
               total_steps: int = 0, **kwargs):
    super().__init__(network, **kwargs)
    if total_steps <= 0 and (cfg.ramp > 0 or (
        cfg.ratio_weight > 0 and cfg.ratio_start > 0)):
      raise ValueError("a ramp or a delayed ratio term needs total_steps, "
                       "the steps fit will take")
    self.cfg, self.seed, self.total_steps = cfg, seed, total_steps
    self.consistency_tracker = tf_keras.metrics.Mean(name="consistency")
    self.ratio_tracker = tf_keras.metrics.Mean(name="ratio")
    self._draw_transform = plugin.train_step_drawer(cfg.family, cfg.level)

  @property
  def metrics(self):
    extra = [self.ratio_tracker] if self.cfg.ratio_weight > 0 else []
    return [self.loss_tracker, self.accuracy, self.consistency_tracker,
            *extra]

  def draw_views(self, images, labels, step_seed):
    """The batch's views, [clean,] T_1(x), ..., T_m(x), each T_i drawn
    per image from (step_seed, i); with worst_of = k, each view keeps per
    image the draw of k whose cross-entropy is highest under the current
    network (inference mode, no gradient)."""
    views = [images] if self.cfg.clean_view else []
    for i in range(self.cfg.views):
      view_seed = tf.random.experimental.stateless_fold_in(step_seed, i)
      if self.cfg.worst_of == 1:
        views.append(self._draw_transform(images, view_seed))
        continue
      candidates = tf.stack([
          self._draw_transform(
              images, tf.random.experimental.stateless_fold_in(view_seed, j))
          for j in range(self.cfg.worst_of)])        # [k, batch, h, w, c]
      batch = tf.shape(images)[0]
      logits = self.network(tf.reshape(candidates, tf.concat(
          [[-1], tf.shape(images)[1:]], 0)), training=False)
      ce = tf.reshape(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=tf.tile(tf.cast(labels, tf.int32), [self.cfg.worst_of]),
          logits=logits), [self.cfg.worst_of, batch])
      worst = tf.argmax(ce, axis=0, output_type=tf.int32)
      views.append(tf.stop_gradient(tf.gather_nd(
          candidates, tf.stack([worst, tf.range(batch)], axis=1))))
    return views

  def weight_at(self, step):
    """The KL weight at `step`: linear from 0 over the ramp's steps."""
    if self.cfg.ramp <= 0:
      return tf.constant(self.cfg.weight, tf.float32)
    ramp_steps = max(1.0, round(self.cfg.ramp * self.total_steps))
    return self.cfg.weight * tf.minimum(
        1.0, tf.cast(step + 1, tf.float32) / ramp_steps)

  def objective(self, views, labels, step):
    """(loss, consistency term, ratio term, logits of the first view)."""
    logits = self.network(tf.concat(views, axis=0), training=True)
    view_logits = tf.reshape(logits, [len(views), -1, logits.shape[-1]])
    consistency = losses.view_consistency(view_logits, self.weight_at(step),
                                          self.cfg.entropy)
    loss = losses.views_cross_entropy(labels, view_logits) + consistency
    ratio = tf.constant(0.0)
    if self.cfg.ratio_weight > 0:
      ratio = self.bounded_ratio(view_logits[0], view_logits[1], labels)
      start = round(self.cfg.ratio_start * self.total_steps)
      on = tf.cast(tf.cast(step, tf.int64) >= start, tf.float32)
      loss += on * self.cfg.ratio_weight * ratio
    return loss, consistency, ratio, view_logits[0]

  def bounded_ratio(self, logits_x, logits_tx, labels):
    """mean over the batch of softplus(min(r, clip) - eta) on the images
    classified right (0 on the others): an ambiguous or wrong image
    cannot own the gradient."""
    p_x = tf.nn.softmax(logits_x)
    r = losses.ratio(p_x, tf.nn.softmax(logits_tx), clip=self.cfg.ratio_clip)
    right = tf.cast(tf.equal(tf.argmax(logits_x, -1, output_type=tf.int32),
                             tf.cast(labels, tf.int32)), tf.float32)
    return tf.reduce_mean(right * tf.math.softplus(r - self.cfg.ratio_eta))

  def training_loss(self, images, labels):
    step = self.optimizer.iterations
    views = self.draw_views(images, labels,
                            replica_step_seed(self.seed, step))
    loss, consistency, ratio, logits = self.objective(views, labels, step)
    self.consistency_tracker.update_state(consistency)
    if self.cfg.ratio_weight > 0:
      self.ratio_tracker.update_state(ratio)
    return loss, logits
