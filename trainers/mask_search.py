"""Stage 2: the C-SAM mask search on a frozen backbone.

`MaskSearchTrainer.train_step` is the algorithm box: draw T and two mask
noises, run the noisy masks on [x, T(x)], the soft and the binarised mask
on x, combine the four terms (and the optional cross-entropy), and take one
gradient step on the soft masks only, clipped back to [0, 1] (the masks'
constraint).

BatchNorm (`search_bn=batch`, the default): every masked pass of the step
normalises with the statistics of the batch it processes, so normalisation
follows the mask being searched (HYDRA, edge-popup, Lottery Jackpots);
kernels, gamma and beta stay frozen. Each noisy pass normalises [x, T(x)]
together, as one batch: the deployed network normalises a clean and a
transformed image with the same fixed statistics, and normalising T(x)
apart would subtract a batch-wide brightness or contrast change before the
ratio term could see it. The soft and the binary pass normalise x alone.
Masks are judged (validation, the final masks) with moving statistics
re-estimated under the binary masks on training batches
(csam_tf.masking.recalibrate), never with validation batches' statistics.
`search_bn=frozen` is v1: the dense network's moving statistics throughout.
`search_bn=batch_affine` (an ablation) normalises like `batch` and learns
gamma and beta with the masks (same optimizer); they go to fine-tuning
with the binary masks.
"""

from typing import Callable, Dict, Iterable, List, Optional

import tensorflow as tf
import tf_keras

from csam_tf.masking import losses
from csam_tf.masking import binarize as binarize_lib
from csam_tf.masking.mask_layers import (masked_layers, use_batch_statistics,
                                    use_masks)
from csam_tf.masking.masked_model import (mask_variables, raw_magnitudes,
                                          tie_break_scores)
from csam_tf.masking.recalibrate import batchnorm_layers, recalibrate_batchnorm
from csam_tf.transforms import plugin
from trainers.mask_search_config import MaskSearchConfig
from trainers.step_seed import replica_step_seed

LOSS_TERMS = ("loss", "stab", "ratio", "consist", "l1", "ce")


class MaskSearchTrainer(tf_keras.Model):
  """Optimises the soft masks of a masked network (see module docstring)."""

  def __init__(self, network: tf_keras.Model, cfg: MaskSearchConfig,
               seed: int = 0, total_steps: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.network = network
    self.cfg = cfg
    self.seed = int(seed)
    self.total_steps = int(total_steps)  # for the sparsity schedule
    self._layers = masked_layers(network)
    self._masks = mask_variables(network)
    self._affine = (list(batchnorm_affine(network).values())
                    if cfg.search_bn == "batch_affine" else [])
    self._ties = [tf.constant(t) for t in tie_break_scores(
        network, normalize=not raw_magnitudes(cfg))]
    self._binarizer = binarize_lib.Binarizer(
        [m.shape.num_elements() for m in self._masks], cfg.sparsity,
        cfg.binarize, self._ties)
    # What the search is measured against: where the masks started, and
    # magnitude pruning at the same sparsity and allocation.
    self.initial_masks = [tf.constant(m.numpy()) for m in self._masks]
    self.magnitude_masks = self._binarizer(self._ties)
    self._draw_transform = plugin.train_step_drawer(cfg.family, cfg.level)
    self._trackers = {name: tf_keras.metrics.Mean(name=name)
                      for name in LOSS_TERMS + (
                          "mask_mean", "flip_fraction", "agreement",
                          "accuracy", "mask_moved", "magnitude_overlap",
                          "sparsity_target")}
    self._objective = (tf.function(self._terms_and_gradients,
                                   jit_compile=True)
                       if cfg.xla else self._terms_and_gradients)
    # The steps return metric results, which tf_keras already aggregates
    # over replicas and workers; its default ("auto": "sum" under
    # MultiWorkerMirroredStrategy) added them up again whenever a step
    # returns only some of the metrics (test_step, score_ce's train_step):
    # val_accuracy 1.10 and val_mask_mean 1.69 from two workers.
    self.distribute_reduction_method = "first"

  @property
  def metrics(self):
    return list(self._trackers.values())

  @property
  def learned_variables(self) -> List[tf.Variable]:
    """What the search's optimizer updates: the soft masks, and with
    `search_bn=batch_affine` BatchNorm's gamma and beta."""
    return self._masks + self._affine

  def call(self, images, training=False):
    return self.network(images, training=False)

  def forward(self, masks: List[tf.Tensor], images: tf.Tensor,
              batch_statistics: Optional[bool] = None) -> tf.Tensor:
    """Logits with the given masks. BatchNorm normalises with `images`'
    own statistics (by default, unless `search_bn=frozen`) or with the
    moving statistics; it never updates them."""
    if batch_statistics is None:
      batch_statistics = self.cfg.search_bn != "frozen"
    with use_masks(self._layers, masks), \
        use_batch_statistics(batch_statistics):
      return self.network(images, training=False)

  def sparsity_target(self) -> tf.Tensor:
    """The binary branch's target this step: `sparsity`, or with the cubic
    schedule s * (1 - (1 - p)^3), p the progress between schedule_begin
    and schedule_end of the search (Zhu and Gupta; tfmot's PolynomialDecay
    with power 3), held at s after."""
    cfg = self.cfg
    if cfg.sparsity_schedule == "constant" or not self.total_steps:
      return tf.constant(cfg.sparsity, tf.float32)
    begin = cfg.schedule_begin * self.total_steps
    length = max((cfg.schedule_end - cfg.schedule_begin) * self.total_steps,
                 1.0)
    progress = tf.clip_by_value(
        (tf.cast(self.optimizer.iterations, tf.float32) - begin) / length,
        0.0, 1.0)
    return cfg.sparsity * (1.0 - (1.0 - progress) ** 3)

  def recalibrate(self, images: Iterable) -> int:
    """Re-estimates the network's BatchNorm statistics under the binary
    masks of the current soft masks, on `images` (training batches);
    returns the batches used."""
    hard = self.binarize([tf.convert_to_tensor(m) for m in self._masks])

    def forward(batch):
      with use_masks(self._layers, hard), use_batch_statistics(False):
        return self.network(batch, training=True)

    return recalibrate_batchnorm(self.network, images, forward,
                                 self.cfg.recalibration_batches)

  def search_diagnostics(self) -> dict:
    """Did the search do anything: mean |C - C_init|, and the share of
    magnitude pruning's kept weights the binary masks keep too, overall and
    per layer."""
    soft = [tf.convert_to_tensor(m) for m in self._masks]
    hard = self.binarize(soft)
    per_layer = {
        layer.name: float(tf.reduce_sum(h * m) / tf.reduce_sum(m))
        for layer, h, m in zip(self._layers, hard, self.magnitude_masks)}
    return {"mask_moved": float(_mean_abs_difference(soft,
                                                      self.initial_masks)),
            "magnitude_overlap": float(_overlap(hard, self.magnitude_masks)),
            "magnitude_overlap_per_layer": per_layer}

  def binarize(self, soft: List[tf.Tensor],
               sparsity: Optional[tf.Tensor] = None) -> List[tf.Tensor]:
    """Top-k binary masks at the target sparsity, ties broken by |w|.

    The ranking key is C itself (`binarize_score=mask`) or C times the
    normalised weight magnitude (`mask_x_magnitude`: the magnitude of the
    effective weight C*w), which keeps the order of the many masks the
    percentile init saturates at 1 instead of leaving it to noise.
    """
    keys = soft
    if self.cfg.binarize_score == "mask_x_magnitude":
      keys = [s * t for s, t in zip(soft, self._ties)]
    return self._binarizer(keys, sparsity)

  def train_step(self, data):
    images, labels = data
    # each replica its own T and mask noise
    step_seed = replica_step_seed(self.seed, self.optimizer.iterations)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    # T(x) outside the objective: the warp has no XLA kernel on CPU.
    with tf.name_scope("transform"):
      transformed = self._draw_transform(
          images, tf.random.experimental.stateless_fold_in(step_seed, 0))
    terms, gradients, soft, hard, soft_logits, binary_logits = \
        self._objective(images, transformed, labels, step_seed,
                        1.0 / replicas)
    # The masks' constraint clips them back to [0, 1] after the update.
    with tf.name_scope("mask_update"):
      self.optimizer.apply_gradients(zip(gradients, self.learned_variables))

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
      tape.watch(self._affine)  # (frozen layers' variables, learned here)
      soft = [tf.convert_to_tensor(m) for m in self._masks]
      with tf.name_scope("mask_noise"):
        noisy1 = self._noisy(soft, step_seed, 1)
        noisy2 = self._noisy(soft, step_seed, 2)
      with tf.name_scope("noisy_forward"):
        p1_x, p1_tx = tf.split(tf.nn.softmax(self.forward(noisy1, both)), 2)
        p2_x, p2_tx = tf.split(tf.nn.softmax(self.forward(noisy2, both)), 2)
      with tf.name_scope("binarize"):
        target = self.sparsity_target()
        hard = self.binarize(
            soft, None if self.cfg.sparsity_schedule == "constant"
            else target)
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
                cfg.eta, cfg.ratio_margin_floor, cfg.ratio_clip),
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
    terms["sparsity_target"] = target
    with tf.name_scope("backward"):
      gradients = tape.gradient(replica_total, self.learned_variables)
    return (terms, gradients, soft, hard,
            soft_logits, binary_logits)

  def test_step(self, data):
    """Validation: accuracy of the binarised masks (what stage 3 keeps),
    BatchNorm on the moving statistics `recalibrate` set for them (never
    the validation batch's own)."""
    images, labels = data
    soft = [tf.convert_to_tensor(m) for m in self._masks]
    hard = self.binarize(soft)
    soft_logits = self.forward(soft, images, batch_statistics=False)
    binary_logits = self.forward(hard, images, batch_statistics=False)
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
    self._trackers["mask_moved"].update_state(
        _mean_abs_difference(soft, self.initial_masks))
    self._trackers["magnitude_overlap"].update_state(
        _overlap(hard, self.magnitude_masks))
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


def batchnorm_affine(network) -> Dict[str, tf.Variable]:
  """Every BatchNorm's gamma and beta (those it has), in layer order, keyed
  <layer>/gamma and <layer>/beta (the names mask_stage saves them under)."""
  return {f"{layer.name}/{name}": variable
          for layer in batchnorm_layers(network)
          for name, variable in (("gamma", layer.gamma), ("beta", layer.beta))
          if variable is not None}


def _mean_abs_difference(masks, others) -> tf.Tensor:
  """Mean |C - C'| over every entry of every mask."""
  total = tf.add_n([tf.reduce_sum(tf.abs(m - o))
                    for m, o in zip(masks, others)])
  return total / float(sum(m.shape.num_elements() for m in masks))


def _overlap(hard, reference) -> tf.Tensor:
  """The share of `reference`'s kept entries that `hard` keeps too."""
  both = tf.add_n([tf.reduce_sum(h * r) for h, r in zip(hard, reference)])
  return both / tf.add_n([tf.reduce_sum(r) for r in reference])


class RecalibrateBeforeValidation(tf_keras.callbacks.Callback):
  """Re-estimates BatchNorm under the current binary masks before each
  validation pass of `fit`, on training batches. With `search_bn=frozen`
  the search itself runs on the dense moving statistics, so they are put
  back after validation."""

  def __init__(self, trainer: MaskSearchTrainer,
               images: Callable[[], Iterable]):
    super().__init__()
    self._trainer, self._images = trainer, images
    self._saved = None

  def on_test_begin(self, logs=None):
    layers = batchnorm_layers(self._trainer.network)
    if self._trainer.cfg.search_bn == "frozen":
      self._saved = [(l.moving_mean.numpy(), l.moving_variance.numpy())
                     for l in layers]
    self._trainer.recalibrate(self._images())

  def on_test_end(self, logs=None):
    if self._saved is not None:
      for layer, (mean, variance) in zip(
          batchnorm_layers(self._trainer.network), self._saved):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(variance)
      self._saved = None
