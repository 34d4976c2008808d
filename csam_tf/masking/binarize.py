"""Top-k binarisation of soft masks to a target sparsity.

Exact counts: each layer keeps exactly round((1 - sparsity) * n) entries
(layer-wise) or the largest entries over all layers together (global),
chosen by `tf.math.top_k`, so ties never change the kept count.
`straight_through` lets gradients pass the binarisation unchanged (STE).
"""

from typing import List, Sequence

import numpy as np
import tensorflow as tf

BINARIZE_MODES = ("layerwise", "global")


def keep_count(size: int, sparsity: float) -> int:
  """Entries a layer of `size` keeps at `sparsity` (at least one)."""
  return max(1, size - int(round(sparsity * size)))


def topk_mask(soft: tf.Tensor, keep) -> tf.Tensor:
  """1.0 at the `keep` largest entries of `soft`, 0.0 elsewhere."""
  flat = tf.reshape(soft, [-1])
  _, indices = tf.math.top_k(flat, k=keep, sorted=False)
  hard = tf.scatter_nd(indices[:, None], tf.ones_like(indices, flat.dtype),
                       tf.shape(flat))
  return tf.reshape(hard, tf.shape(soft))


def binarize(masks: Sequence[tf.Tensor], sparsity: float,
             mode: str = "layerwise") -> List[tf.Tensor]:
  """Binary masks at `sparsity`, layer-wise or global top-k."""
  if mode == "layerwise":
    return [topk_mask(m, keep_count(int(np.prod(m.shape)), sparsity))
            for m in masks]
  if mode != "global":
    raise ValueError(f"unknown binarize mode {mode!r}; choose one of "
                     f"{', '.join(BINARIZE_MODES)}")
  sizes = [int(np.prod(m.shape)) for m in masks]
  flat = tf.concat([tf.reshape(m, [-1]) for m in masks], axis=0)
  hard = topk_mask(flat, keep_count(sum(sizes), sparsity))
  return [tf.reshape(h, tf.shape(m))
          for h, m in zip(tf.split(hard, sizes), masks)]


def straight_through(soft: tf.Tensor, hard: tf.Tensor) -> tf.Tensor:
  """Forward: `hard`; backward: the identity to `soft` (STE)."""
  return soft + tf.stop_gradient(hard - soft)
