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


def topk_mask(soft: tf.Tensor, keep,
              tie_break: Optional[tf.Tensor] = None) -> tf.Tensor:
  """1.0 at the `keep` largest entries of `soft`, 0.0 elsewhere; among
  equal entries the larger `tie_break` wins."""
  flat = tf.reshape(soft, [-1])
  if tie_break is None:
    _, indices = tf.math.top_k(flat, k=keep, sorted=False)
  else:  # lexicographic (soft, tie_break): two stable sorts
    by_tie = tf.argsort(tf.reshape(tie_break, [-1]), direction="DESCENDING",
                        stable=True)
    by_soft = tf.argsort(tf.gather(flat, by_tie), direction="DESCENDING",
                         stable=True)
    indices = tf.gather(by_tie, by_soft[:keep])
  hard = tf.scatter_nd(indices[:, None], tf.ones_like(indices, flat.dtype),
                       tf.shape(flat)[:1])
  return tf.reshape(hard, tf.shape(soft))


def binarize(masks: Sequence[tf.Tensor], sparsity: float,
             mode: str = "layerwise",
             tie_breaks: Optional[Sequence[tf.Tensor]] = None
             ) -> List[tf.Tensor]:
  """Binary masks at `sparsity`, layer-wise or global top-k."""
  ties = list(tie_breaks) if tie_breaks is not None else [None] * len(masks)
  if mode == "layerwise":
    return [topk_mask(m, keep_count(int(np.prod(m.shape)), sparsity), t)
            for m, t in zip(masks, ties)]
  if mode != "global":
    raise ValueError(f"unknown binarize mode {mode!r}; choose one of "
                     f"{', '.join(BINARIZE_MODES)}")
  sizes = [int(np.prod(m.shape)) for m in masks]
  flat = tf.concat([tf.reshape(m, [-1]) for m in masks], axis=0)
  flat_ties = None
  if tie_breaks is not None:
    flat_ties = tf.concat([tf.reshape(t, [-1]) for t in ties], axis=0)
  hard = topk_mask(flat, keep_count(sum(sizes), sparsity), flat_ties)
  return [tf.reshape(h, tf.shape(m))
          for h, m in zip(tf.split(hard, sizes), masks)]


def straight_through(soft: tf.Tensor, hard: tf.Tensor) -> tf.Tensor:
  """Forward: `hard`; backward: the identity to `soft` (STE)."""
  return soft + tf.stop_gradient(hard - soft)
