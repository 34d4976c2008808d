"""Masks of the unstructured baselines, made the way their papers make them.

- `random`: uniform random scores, top-k per layer (the floor any method
  must clear).
- `magnitude`: one-shot top-k of |w| per layer (what `prune_then_sam`
  fine-tunes; tfmot's gradual magnitude pruning is the `magnitude` method
  itself and needs no masks: see trainers/finetune.py).
- `l1_filter` and `group_norm` (channel mode): one-shot top-k of a
  channel group's filter L1 norm (Li et al.) or of its DepGraph group norm
  over every coupled parameter (csam_tf.structured.group_importance).
- `taylor` (channel mode): one-shot top-k of the first-order Taylor
  importance of each gate (Molchanov et al. 2019, "Importance Estimation
  for Neural Network Pruning"): (dL/dgate)^2 at the dense network (all
  gates 1), averaged over training batches. A gate's gradient is the sum
  of g*w over what it scales (BatchNorm's gamma and beta; a head's or MLP
  channel's output), the paper's group form.
- `score_ce`: HYDRA-style learned scores on the frozen backbone: the forward
  pass uses the binarised scores (straight-through), the loss is the
  cross-entropy alone: no mask noise and none of C-SAM's terms.

All share C-SAM's masked model, initialisation, binarisation and budget, so
the comparison isolates the objective.
"""

from typing import List, Optional

import numpy as np
import tensorflow as tf
import tf_keras

from csam_tf.masking import losses
from csam_tf.masking import binarize as binarize_lib
from csam_tf.masking.mask_layers import masked_layers
from trainers.mask_search import MaskSearchTrainer

ONE_SHOT_METHODS = ("random", "magnitude", "l1_filter", "group_norm",
                    "taylor")
CHANNEL_ONLY_METHODS = ("l1_filter", "group_norm", "taylor")
LEARNED_METHODS = ("csam", "score_ce")
MASK_METHODS = LEARNED_METHODS + ONE_SHOT_METHODS


def one_shot_masks(method: str, magnitudes: List[np.ndarray],
                   sparsity: float, mode: str, seed: int
                   ) -> List[tf.Tensor]:
  """Binary masks of a one-shot baseline at `sparsity`. `magnitudes` is
  the importance per mask: |w| (magnitude), or per channel group the
  criterion's score (l1_filter, group_norm); random ignores it but for the
  shapes."""
  if method in ("magnitude", "l1_filter", "group_norm", "taylor"):
    scores = magnitudes
  elif method == "random":
    rng = np.random.default_rng(seed)
    scores = [rng.random(m.shape).astype(np.float32) for m in magnitudes]
  else:
    raise ValueError(f"{method!r} is not a one-shot mask method; choose one "
                     f"of {', '.join(ONE_SHOT_METHODS)}")
  # Masks are float32 variables; group scores may come as float64.
  return binarize_lib.binarize(
      [tf.constant(np.asarray(s, np.float32)) for s in scores], sparsity,
      mode)


def taylor_scores(model, data, batches: int) -> List[np.ndarray]:
  """Per gate of `model` (a channel-mode masked model), the mean over
  `batches` batches of `data` of (dL/dgate)^2, cross-entropy L, gates set
  to 1 (BatchNorm on its moving statistics: the trained network)."""
  layers = masked_layers(model)
  for layer in layers:
    layer.soft_mask.assign(tf.ones_like(layer.soft_mask))
  gates = [layer.soft_mask for layer in layers]

  @tf.function
  def squared_gradients(images, labels):
    with tf.GradientTape() as tape:
      logits = model(images, training=False)
      loss = tf.reduce_mean(
          tf_keras.losses.sparse_categorical_crossentropy(
              labels, logits, from_logits=True))
    return [tf.square(g) for g in tape.gradient(loss, gates)]

  totals, used = [np.zeros(g.shape, np.float64) for g in gates], 0
  for images, labels in data:
    for total, value in zip(totals, squared_gradients(images, labels)):
      total += value.numpy()
    used += 1
    if used == batches:
      break
  if used == 0:
    raise ValueError("the taylor scores need training batches; the data "
                     "gave none")
  return [total / used for total in totals]


class FixedMaskTrainer(MaskSearchTrainer):
  """A one-shot baseline's masks, already binary at the target count:
  evaluated, recalibrated and compared with magnitude pruning the way a
  search's are, never trained. Binarising returns them as they are."""

  def binarize(self, soft: List[tf.Tensor],
               sparsity: Optional[tf.Tensor] = None) -> List[tf.Tensor]:
    del sparsity  # the one-shot masks hold the target already
    return [tf.convert_to_tensor(s) for s in soft]


class ScoreCrossEntropyTrainer(MaskSearchTrainer):
  """HYDRA's score optimisation: cross-entropy of the binarised network,
  gradients to the scores straight through the top-k."""

  def train_step(self, data):
    images, labels = data
    with tf.GradientTape() as tape:
      tape.watch(self._affine)  # (search_bn=batch_affine: learned too)
      soft = [tf.convert_to_tensor(m) for m in self._masks]
      hard = self.binarize(soft)
      binary = [binarize_lib.straight_through(s, h)
                for s, h in zip(soft, hard)]
      binary_logits = self.forward(binary, images)
      loss = losses.cross_entropy(labels, binary_logits)
      replica_loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
    gradients = tape.gradient(replica_loss, self.learned_variables)
    self.optimizer.apply_gradients(zip(gradients, self.learned_variables))
    self._trackers["loss"].update_state(loss)
    self._trackers["ce"].update_state(loss)
    self._update_mask_metrics(soft, hard, binary_logits, binary_logits,
                              labels)
    return {name: self._trackers[name].result()
            for name in ("loss", "ce", "mask_mean", "flip_fraction",
                         "accuracy")}
