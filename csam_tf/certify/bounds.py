"""The statistics of certification, as pure numpy functions of sampled
numbers (no model, no TensorFlow): testable on hand-made arrays.

CC-Cert (Pautov et al., AAAI 2022), as PROTOCOL.md defines it: with
Y_j = ||p0 - p(T_j(x))||_inf over `nbounds` blocks of `nsamples` sampled
transformations and a = (p0_top1 - p0_top2) / 2,
  b_k = min_t mean_j exp(t (Y_j - a)),  bound = min(1, max_k b_k / delta),
computed in float64 log space (logsumexp), never as a ratio of exponentials.
"""

from typing import Optional

import numpy as np
# scipy.special, not scipy.stats: stats.beta.ppf is special.betaincinv, and
# importing scipy.stats took 0.55 s more of every command's start-up.
from scipy import special

DEFAULT_T_GRID = np.linspace(1e-4, 1e4, 500)
# ccert: the paper's CC-Cert bound on P(Y >= a); binomial: the one-sided
# Clopper-Pearson bound on the same event from the count of samples with
# Y >= a (rigorous at confidence delta, needs >= 2,302 clean samples to
# reach 1e-3 at delta 0.9); clopper_pearson: the same bound on prediction
# flips (a weaker event than Y >= a). Their names: config.BOUNDS.
T_CHUNK = 25  # t values evaluated at once


def cc_cert_bound(y: np.ndarray, a: np.ndarray, nbounds: int, nsamples: int,
                  delta: float = 0.9, t_grid: Optional[np.ndarray] = None
                  ) -> np.ndarray:
  """The CC-Cert bound per image.

  y: (n_images, nbounds * nsamples) values in [0, 1], block k being columns
  [k * nsamples, (k + 1) * nsamples); a: (n_images,) half top-2 margins.
  Returns (n_images,) float64 in (0, 1]; never NaN or inf.
  """
  y = np.asarray(y, np.float64)
  a = np.asarray(a, np.float64).reshape(-1)
  t = np.asarray(DEFAULT_T_GRID if t_grid is None else t_grid, np.float64)
  if y.ndim != 2 or y.shape != (len(a), nbounds * nsamples):
    raise ValueError(f"y must have shape (n_images, nbounds * nsamples) = "
                     f"({len(a)}, {nbounds * nsamples}), got {y.shape}")
  if not 0 < delta <= 1:
    raise ValueError(f"delta must be in (0, 1], got {delta}")
  blocks = (y - a[:, None]).reshape(len(a), nbounds, nsamples)
  log_b = np.full((len(a), nbounds), np.inf)
  for start in range(0, len(t), T_CHUNK):  # bounded memory for large n
    chunk = t[start:start + T_CHUNK]
    # log mean_j exp(t z_j): logsumexp over j, minus log nsamples
    log_means = special.logsumexp(
        chunk[:, None, None, None] * blocks[None], axis=-1) - np.log(nsamples)
    log_b = np.minimum(log_b, log_means.min(axis=0))  # min over t
  log_bound = log_b.max(axis=1) - np.log(delta)  # max over blocks
  return np.exp(np.minimum(log_bound, 0.0))


def clopper_pearson_upper(flips: np.ndarray, trials: int,
                          confidence: float = 0.9) -> np.ndarray:
  """One-sided Clopper-Pearson upper bound on the probability of an event
  (a prediction flip, or Y >= a) from `flips` events in `trials` samples.

  With zero events it cannot go below 1 - (1 - confidence)^(1/trials):
  about 2.3e-3 for 1,000 samples at 0.9, 1e-3 from 2,302 samples on.
  """
  flips = np.asarray(flips, np.int64)
  if np.any((flips < 0) | (flips > trials)):
    raise ValueError("flips must be between 0 and trials")
  upper = special.betaincinv(flips + 1, trials - flips, confidence)
  return np.where(flips >= trials, 1.0, upper).astype(np.float64)
