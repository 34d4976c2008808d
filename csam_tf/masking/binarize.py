"""Top-k binarisation of soft masks to a target sparsity.

Exact counts: each layer keeps exactly round((1 - sparsity) * n) entries
(layer-wise) or the largest entries over all layers together (global), so
ties never change the kept count. Ties are common (the percentile
initialisation opens 70% of the masks fully), and an arbitrary pick among
them would drop large weights at random: `tie_break` scores (|w|, or the
filter norm in channel mode) order equal masks, largest first.
`straight_through` lets gradients pass the binarisation unchanged (STE).
"""

from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf

BINARIZE_MODES = ("layerwise", "global")


def keep_count(size: int, sparsity: float) -> int:
  """Entries a layer of `size` keeps at `sparsity` (at least one)."""
  return max(1, size - int(round(sparsity * size)))


def tie_order(tie_break: tf.Tensor) -> tf.Tensor:
  """Flat indices of `tie_break` largest first, equal values in index
  order (stable): the constant half of the lexicographic sort, so callers
  with fixed tie-breaks (the mask search) compute it once, not per step."""
  return tf.argsort(tf.reshape(tie_break, [-1]), direction="DESCENDING",
                    stable=True)


def topk_mask(soft: tf.Tensor, keep,
              order: Optional[tf.Tensor] = None) -> tf.Tensor:
  """1.0 at the `keep` largest entries of `soft`, 0.0 elsewhere; among
  equal entries the one earlier in `order` (a `tie_order`) wins.

  `tf.math.top_k` keeps the lower index among equal values, so a top-k
  of `soft` permuted by `order` is the lexicographic (soft, tie_break)
  top-k with one partial sort instead of two full ones.
  """
  flat = tf.reshape(soft, [-1])
  if order is None:
    _, indices = tf.math.top_k(flat, k=keep)
  else:
    _, picked = tf.math.top_k(tf.gather(flat, order), k=keep)
    indices = tf.gather(order, picked)
  hard = tf.scatter_nd(indices[:, None], tf.ones_like(indices, flat.dtype),
                       tf.shape(flat)[:1])
  return tf.reshape(hard, tf.shape(soft))


class Binarizer:
  """Top-k binarisation with fixed tie-breaks: their orders are sorted once
  here, and each call costs one top-k per layer (or one in global mode)."""

  def __init__(self, sizes: Sequence[int], sparsity: float,
               mode: str = "layerwise",
               tie_breaks: Optional[Sequence[tf.Tensor]] = None):
    if mode not in BINARIZE_MODES:
      raise ValueError(f"unknown binarize mode {mode!r}; choose one of "
                       f"{', '.join(BINARIZE_MODES)}")
    self.sizes = [int(s) for s in sizes]
    self.mode = mode
    if mode == "layerwise":
      self.keeps = [keep_count(s, sparsity) for s in self.sizes]
      self.orders = ([tie_order(t) for t in tie_breaks]
                     if tie_breaks is not None else [None] * len(self.sizes))
    else:
      self.keeps = [keep_count(sum(self.sizes), sparsity)]
      self.orders = [tie_order(tf.concat(
          [tf.reshape(t, [-1]) for t in tie_breaks], axis=0))
                     if tie_breaks is not None else None]

  def __call__(self, masks: Sequence[tf.Tensor],
               sparsity: Optional[tf.Tensor] = None) -> List[tf.Tensor]:
    """Binary masks at the sparsity given at construction, or at
    `sparsity` (a scalar tensor, e.g. a schedule's current target)."""
    keeps = self.keeps
    if sparsity is not None:
      sizes = self.sizes if self.mode == "layerwise" else [sum(self.sizes)]
      keeps = [tf.maximum(1, s - tf.cast(tf.round(
          tf.cast(sparsity, tf.float64) * s), tf.int32)) for s in sizes]
    if self.mode == "layerwise":
      return [topk_mask(m, k, o)
              for m, k, o in zip(masks, keeps, self.orders)]
    flat = tf.concat([tf.reshape(m, [-1]) for m in masks], axis=0)
    hard = topk_mask(flat, keeps[0], self.orders[0])
    return [tf.reshape(h, tf.shape(m))
            for h, m in zip(tf.split(hard, self.sizes), masks)]


def binarize(masks: Sequence[tf.Tensor], sparsity: float,
             mode: str = "layerwise",
             tie_breaks: Optional[Sequence[tf.Tensor]] = None
             ) -> List[tf.Tensor]:
  """Binary masks at `sparsity`, layer-wise or global top-k (one-off; a
  loop over steps keeps a `Binarizer`)."""
  sizes = [int(np.prod(m.shape)) for m in masks]
  return Binarizer(sizes, sparsity, mode, tie_breaks)(masks)


def straight_through(soft: tf.Tensor, hard: tf.Tensor) -> tf.Tensor:
  """Forward: `hard`; backward: the identity to `soft` (STE)."""
  return soft + tf.stop_gradient(hard - soft)
