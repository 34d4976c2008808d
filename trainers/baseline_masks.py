"""Masks of the unstructured baselines, made the way their papers make them.

- `random`: uniform random scores, top-k per layer (the floor any method
  must clear).
- `magnitude`: one-shot top-k of |w| per layer (what `prune_then_sam`
  fine-tunes; tfmot's gradual magnitude pruning is the `magnitude` method
  itself and needs no masks: see trainers/finetune.py).
- `l1_filter` and `group_norm` (channel mode): one-shot top-k of a
  channel group's filter L1 norm (Li et al.) or of its DepGraph group norm
  over every coupled parameter (csam_tf.structured.group_importance).
- `score_ce`: HYDRA-style learned scores on the frozen backbone: the forward
  pass uses the binarised scores (straight-through), the loss is the
  cross-entropy alone: no mask noise and none of C-SAM's terms.

All share C-SAM's masked model, initialisation, binarisation and budget, so
the comparison isolates the objective.
"""

from typing import List

import numpy as np
import tensorflow as tf

from csam_tf import losses
from csam_tf.masking import binarize as binarize_lib
from trainers.mask_search import MaskSearchTrainer

ONE_SHOT_METHODS = ("random", "magnitude", "l1_filter", "group_norm")
CHANNEL_ONLY_METHODS = ("l1_filter", "group_norm")
LEARNED_METHODS = ("csam", "score_ce")
MASK_METHODS = LEARNED_METHODS + ONE_SHOT_METHODS


def one_shot_masks(method: str, magnitudes: List[np.ndarray],
                   sparsity: float, mode: str, seed: int
                   ) -> List[tf.Tensor]:
  """Binary masks of a one-shot baseline at `sparsity`. `magnitudes` is
  the importance per mask: |w| (magnitude), or per channel group the
  criterion's score (l1_filter, group_norm); random ignores it but for the
  shapes."""
  if method in ("magnitude", "l1_filter", "group_norm"):
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


class ScoreCrossEntropyTrainer(MaskSearchTrainer):
  """HYDRA's score optimisation: cross-entropy of the binarised network,
  gradients to the scores straight through the top-k."""

  def train_step(self, data):
    images, labels = data
    with tf.GradientTape() as tape:
      soft = [tf.convert_to_tensor(m) for m in self._masks]
      hard = self.binarize(soft)
      binary = [binarize_lib.straight_through(s, h)
                for s, h in zip(soft, hard)]
      binary_logits = self.forward(binary, images)
      loss = losses.cross_entropy(labels, binary_logits)
      replica_loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
    gradients = tape.gradient(replica_loss, self._masks)
    self.optimizer.apply_gradients(zip(gradients, self._masks))
    self._trackers["loss"].update_state(loss)
    self._trackers["ce"].update_state(loss)
    self._update_mask_metrics(soft, hard, binary_logits, binary_logits,
                              labels)
    return {name: self._trackers[name].result()
            for name in ("loss", "ce", "mask_mean", "flip_fraction",
                         "accuracy")}
