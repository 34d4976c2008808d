"""The C-SAM loss terms, each a pure function of predictions or masks.

Notation: p_k(u) is the softmax output for input u through noisy mask k
(k = 1, 2), x the clean batch and T(x) its transformed copy.
"""

from typing import Sequence

import tensorflow as tf

RATIO_EPSILON = 1e-6
CONSISTENCY_KINDS = ("kl", "mse")


def mask_noise_variance(p1: tf.Tensor, p2: tf.Tensor) -> tf.Tensor:
  """Per-example sum_k ||p_k - pbar||_2^2 / 2 over the two masks k = 1, 2,
  pbar = (p1 + p2) / 2 (which equals ||p1 - p2||_2^2 / 4)."""
  pbar = (p1 + p2) / 2.0
  return (tf.reduce_sum(tf.square(p1 - pbar), -1) +
          tf.reduce_sum(tf.square(p2 - pbar), -1)) / 2.0


def stability_loss(p1_x, p2_x, p1_tx, p2_tx) -> tf.Tensor:
  """L_stab: the mask-noise variance, averaged over the inputs u in
  {x, T(x)} and the batch."""
  return (tf.reduce_mean(mask_noise_variance(p1_x, p2_x)) +
          tf.reduce_mean(mask_noise_variance(p1_tx, p2_tx))) / 2.0


def half_top2_margin(p: tf.Tensor) -> tf.Tensor:
  """d = (p_top1 - p_top2) / 2 per example: the certification radius of
  CC-Cert in the sup norm."""
  top2 = tf.math.top_k(p, k=2).values
  return (top2[:, 0] - top2[:, 1]) / 2.0


def ratio(p_x: tf.Tensor, p_tx: tf.Tensor, margin_floor: float = 0.0,
          clip: float = 0.0) -> tf.Tensor:
  """r = ||p(x) - p'(T(x))||_inf / (d(x) + 1e-6), d from p(x).

  Variants (off at 0): d is floored at `margin_floor`, r clipped at `clip`,
  so images with a near-zero margin (r explodes) cannot own the gradient.
  """
  shift = tf.reduce_max(tf.abs(p_x - p_tx), axis=-1)
  margin = half_top2_margin(p_x)
  if margin_floor:
    margin = tf.maximum(margin, margin_floor)
  r = shift / (margin + RATIO_EPSILON)
  return tf.minimum(r, clip) if clip else r


def ratio_loss(p_x: tf.Tensor, p_tx: tf.Tensor, eta: float = 1.0,
               margin_floor: float = 0.0, clip: float = 0.0) -> tf.Tensor:
  """L_ratio = mean softplus(r - eta): penalises outputs that the
  transformation moves further than the margin can absorb."""
  return tf.reduce_mean(tf.math.softplus(
      ratio(p_x, p_tx, margin_floor, clip) - eta))


def consistency_loss(soft_logits: tf.Tensor, binary_logits: tf.Tensor,
                     kind: str = "kl") -> tf.Tensor:
  """L_consist between the soft-mask and the binarised-mask predictions:
  KL(p_soft || p_binary) (from logits, for stability) or the mean squared
  distance of the probability vectors."""
  if kind == "kl":
    log_soft = tf.nn.log_softmax(soft_logits, axis=-1)
    log_binary = tf.nn.log_softmax(binary_logits, axis=-1)
    return tf.reduce_mean(tf.reduce_sum(
        tf.exp(log_soft) * (log_soft - log_binary), axis=-1))
  if kind == "mse":
    return tf.reduce_mean(tf.reduce_sum(tf.square(
        tf.nn.softmax(soft_logits) - tf.nn.softmax(binary_logits)), -1))
  raise ValueError(f"unknown consistency loss {kind!r}; choose one of "
                   f"{', '.join(CONSISTENCY_KINDS)}")


def sparsity_loss(masks: Sequence[tf.Tensor]) -> tf.Tensor:
  """L_1: the mean mask value over every entry of every mask."""
  total = tf.add_n([tf.reduce_sum(m) for m in masks])
  count = sum(m.shape.num_elements() for m in masks)
  return total / float(count)


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  """Mean sparse softmax cross-entropy (the optional task term)."""
  return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int32), logits=logits))


def view_consistency(view_logits: tf.Tensor, weight: float,
                     entropy_weight: float) -> tf.Tensor:
  """Consistency regularisation over m views of each image (Jeong & Shin
  2020): weight * (1/m) sum_i KL(pbar || p_i) + entropy_weight * H(pbar),
  pbar the views' mean softmax, averaged over the batch. `view_logits` is
  [m, batch, classes]. The KL pulls every view towards the consensus; the
  entropy term sharpens the consensus, which widens the top-2 margin that
  CC-Cert's event compares against."""
  log_p = tf.nn.log_softmax(view_logits, axis=-1)
  pbar = tf.reduce_mean(tf.exp(log_p), axis=0)
  log_pbar = tf.math.log(tf.maximum(pbar, 1e-20))
  kl = tf.reduce_mean(tf.reduce_sum(
      pbar[None] * (log_pbar[None] - log_p), axis=-1), axis=0)
  entropy = -tf.reduce_sum(pbar * log_pbar, axis=-1)
  return tf.reduce_mean(weight * kl + entropy_weight * entropy)


def views_cross_entropy(labels: tf.Tensor, view_logits: tf.Tensor
                        ) -> tf.Tensor:
  """Cross-entropy averaged over the m views and the batch
  (`view_logits` [m, batch, classes])."""
  m = tf.shape(view_logits)[0]
  return cross_entropy(tf.tile(labels, [m]),
                       tf.reshape(view_logits, [-1, view_logits.shape[-1]]))
