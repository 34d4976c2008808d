"""Initial soft masks: C = clip(score / percentile(score, tau), 0, 1), or
C = score / max(score) (`scaled_magnitude`, HYDRA's init: the order of |w|
with no mask pinned at the clip but the largest).

score is |w| per weight (unstructured) or the L2 norm of each output
channel's filter (channel mode). Weights above the tau-th percentile start
fully open; the smallest start partly closed in proportion to their size.
"""

import numpy as np

MASK_INITS = ("percentile", "scaled_magnitude", "random", "ones")


def channel_scores(kernel: np.ndarray, depthwise: bool = False) -> np.ndarray:
  """L2 norm of each output channel's filter.

  Conv2D [kh,kw,in,out] and Dense [in,out] have their channels last; a
  DepthwiseConv2D kernel [kh,kw,in,multiplier] has in*multiplier channels,
  channel i*multiplier + m.
  """
  kernel = np.asarray(kernel, np.float64)
  channels = kernel.shape[-2] * kernel.shape[-1] if depthwise \
      else kernel.shape[-1]
  return np.sqrt(np.sum(kernel.reshape(-1, channels) ** 2, axis=0))


def percentile_mask(scores: np.ndarray, tau: float) -> np.ndarray:
  """clip(scores / percentile(scores, tau), 0, 1); tau = 0 uses the
  smallest score. All-zero scores give an all-ones mask (nothing to rank)."""
  scores = np.abs(np.asarray(scores, np.float64))
  threshold = np.percentile(scores, tau)
  if threshold <= 0:
    return np.where(scores > 0, 1.0, 0.0).astype(np.float32) \
        if np.any(scores > 0) else np.ones_like(scores, np.float32)
  return np.clip(scores / threshold, 0.0, 1.0).astype(np.float32)


def importance(weight: np.ndarray, mask_shape, depthwise: bool = False
               ) -> np.ndarray:
  """What a mask of `mask_shape` ranks: |w| when it masks every weight,
  else the filter norm of each channel."""
  weight = np.asarray(weight)
  if tuple(mask_shape) == weight.shape:
    return np.abs(weight)
  return channel_scores(weight, depthwise).reshape(mask_shape)


def initial_mask(weight: np.ndarray, mask_shape, method: str, tau: float,
                 rng: np.random.Generator, depthwise: bool = False
                 ) -> np.ndarray:
  """The initial soft mask of one layer."""
  if method == "ones":
    return np.ones(mask_shape, np.float32)
  if method == "random":
    return rng.uniform(0.0, 1.0, mask_shape).astype(np.float32)
  if method == "scaled_magnitude":  # HYDRA: scores proportional to |w|
    return percentile_mask(importance(weight, mask_shape, depthwise), 100.0)
  if method != "percentile":
    raise ValueError(f"unknown mask init {method!r}; choose one of "
                     f"{', '.join(MASK_INITS)}")
  return percentile_mask(importance(weight, mask_shape, depthwise), tau)
