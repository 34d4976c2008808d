"""Stage 2: the C-SAM mask search on a frozen backbone.

`MaskSearchTrainer.train_step` is the algorithm box: draw T and two mask
noises, run the noisy masks on [x, T(x)], the soft and the binarised mask
on x, combine the four terms (and the optional cross-entropy), and take one
gradient step on the soft masks only, clipped back to [0, 1] (the masks'
constraint).
"""

from typing import List

import tensorflow as tf
import tf_keras

from csam_tf import losses, transforms
from csam_tf.masking import binarize as binarize_lib
from csam_tf.masking.layers import masked_layers, use_masks
from csam_tf.masking.masked_model import mask_variables, tie_break_scores
from csam_tf.transform_ranges import family_ranges
from trainers.mask_search_config import MaskSearchConfig

LOSS_TERMS = ("loss", "stab", "ratio", "consist", "l1", "ce")


class MaskSearchTrainer(tf_keras.Model):
  """Optimises the soft masks of a masked network (see module docstring)."""

  def __init__(self, network: tf_keras.Model, cfg: MaskSearchConfig,
               seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.network = network
    self.cfg = cfg
    self.seed = int(seed)
    self._layers = masked_layers(network)
    self._masks = mask_variables(network)
    self._ties = [tf.constant(t) for t in tie_break_scores(network)]
    self._binarizer = binarize_lib.Binarizer(
        [m.shape.num_elements() for m in self._masks], cfg.sparsity,
        cfg.binarize, self._ties)
    self._ranges = family_ranges(cfg.family, cfg.level)
    self._trackers = {name: tf_keras.metrics.Mean(name=name)
                      for name in LOSS_TERMS + (
                          "mask_mean", "flip_fraction", "agreement",
                          "accuracy")}
    self._objective = (tf.function(self._terms_and_gradients,
                                   jit_compile=True)
                       if cfg.xla else self._terms_and_gradients)

  @property
  def metrics(self):
    return list(self._trackers.values())

  def call(self, images, training=False):
    return self.network(images, training=False)

  def forward(self, masks: List[tf.Tensor], images: tf.Tensor) -> tf.Tensor:
    """Logits with the given masks; BatchNorm in inference mode."""
    with use_masks(self._layers, masks):
      return self.network(images, training=False)

  def binarize(self, soft: List[tf.Tensor]) -> List[tf.Tensor]:
    """Top-k binary masks at the target sparsity, ties broken by |w|.

    The ranking key is C itself (`binarize_score=mask`) or C times the
    normalised weight magnitude (`mask_x_magnitude`: the magnitude of the
    effective weight C*w), which keeps the order of the many masks the
    percentile init saturates at 1 instead of leaving it to noise.
    """
    keys = soft
    if self.cfg.binarize_score == "mask_x_magnitude":
      keys = [s * t for s, t in zip(soft, self._ties)]
    return self._binarizer(keys)

  def train_step(self, data):
    images, labels = data
    step_seed = tf.stack([tf.constant(self.seed, tf.int64),
                          tf.cast(self.optimizer.iterations, tf.int64)])
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:  # each replica its own T and mask noise
      step_seed = tf.random.experimental.stateless_fold_in(
          step_seed, tf.distribute.get_replica_context()
          .replica_id_in_sync_group)
    # T(x) outside the objective: the warp has no XLA kernel on CPU.
    with tf.name_scope("transform"):
      transformed = transforms.random_transform(
          images, self._ranges, tf.random.experimental.stateless_fold_in(
              step_seed, 0))
    terms, gradients, soft, hard, soft_logits, binary_logits = \
        self._objective(images, transformed, labels, step_seed,
                        1.0 / replicas)
    # The masks' constraint clips them back to [0, 1] after the update.
    with tf.name_scope("mask_update"):
      self.optimizer.apply_gradients(zip(gradients, self._masks))

    with tf.name_scope("metrics"):
      for name, value in terms.items():
        self._trackers[name].update_state(value)
      self._update_mask_metrics(soft, hard, soft_logits, binary_logits,
                                labels)
    return {m.name: m.result() for m in self.metrics}

  def _terms_and_gradients(self, images, transformed, labels, step_seed,
                           replica_share):
    """The loss terms and the masks' gradients of one step (the part
    `--mask_xla` compiles with XLA)."""
    cfg = self.cfg
    both = tf.concat([images, transformed], axis=0)
    with tf.GradientTape() as tape:
      soft = [tf.convert_to_tensor(m) for m in self._masks]
      with tf.name_scope("mask_noise"):
        noisy1 = self._noisy(soft, step_seed, 1)
        noisy2 = self._noisy(soft, step_seed, 2)
      with tf.name_scope("noisy_forward"):
        p1_x, p1_tx = tf.split(tf.nn.softmax(self.forward(noisy1, both)), 2)
        p2_x, p2_tx = tf.split(tf.nn.softmax(self.forward(noisy2, both)), 2)
      with tf.name_scope("binarize"):
        hard = self.binarize(soft)
        binary = [binarize_lib.straight_through(s, h)
                  for s, h in zip(soft, hard)]
      with tf.name_scope("soft_binary_forward"):
        soft_logits = self.forward(soft, images)
        binary_logits = self.forward(binary, images)

      with tf.name_scope("loss_terms"):
        terms = {
            "stab": losses.stability_loss(p1_x, p2_x, p1_tx, p2_tx),
            "ratio": losses.ratio_loss(
                p1_x, p2_tx if cfg.ratio_masks == "pair" else p1_tx,
                cfg.eta),
            "consist": losses.consistency_loss(soft_logits, binary_logits,
                                               cfg.consist),
            "l1": losses.sparsity_loss(soft),
            "ce": losses.cross_entropy(labels, soft_logits),
        }
        total = (cfg.lambda_stab * terms["stab"] +
                 cfg.lambda_ratio * terms["ratio"] +
                 cfg.lambda_consist * terms["consist"] +
                 cfg.lambda_l1 * terms["l1"] + cfg.lambda_ce * terms["ce"])
        # Replicas' gradients are summed: each contributes its share of
        # the global-batch loss.
        replica_total = total * replica_share
    terms["loss"] = total
    with tf.name_scope("backward"):
      gradients = tape.gradient(replica_total, self._masks)
    return (terms, gradients, soft, hard,
            soft_logits, binary_logits)

  def test_step(self, data):
    """Validation: accuracy of the binarised masks (what stage 3 keeps)."""
    images, labels = data
    soft = [tf.convert_to_tensor(m) for m in self._masks]
    hard = self.binarize(soft)
    soft_logits = self.forward(soft, images)
    binary_logits = self.forward(hard, images)
    self._update_mask_metrics(soft, hard, soft_logits, binary_logits, labels)
    return {name: self._trackers[name].result()
            for name in ("accuracy", "agreement", "mask_mean",
                         "flip_fraction")}

  def _noisy(self, soft, step_seed, draw):
    """clip(C + xi, 0, 1), xi ~ U(-mu, mu) per mask element."""
    seed = tf.random.experimental.stateless_fold_in(step_seed, draw)
    return [tf.clip_by_value(
        m + tf.random.stateless_uniform(
            tf.shape(m), tf.random.experimental.stateless_fold_in(seed, i),
            -self.cfg.mu, self.cfg.mu), 0.0, 1.0)
            for i, m in enumerate(soft)]

  def _update_mask_metrics(self, soft, hard, soft_logits, binary_logits,
                           labels):
    self._trackers["mask_mean"].update_state(losses.sparsity_loss(soft))
    flips = tf.add_n([tf.reduce_sum(tf.cast(
        tf.not_equal(tf.cast(s >= 0.5, h.dtype), h), tf.float32))
                      for s, h in zip(soft, hard)])
    size = float(sum(s.shape.num_elements() for s in soft))
    self._trackers["flip_fraction"].update_state(flips / size)
    self._trackers["agreement"].update_state(tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(soft_logits, -1), tf.argmax(binary_logits, -1)),
        tf.float32)))
    self._trackers["accuracy"].update_state(tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(binary_logits, -1, output_type=tf.int32),
                 tf.cast(labels, tf.int32)), tf.float32)))
