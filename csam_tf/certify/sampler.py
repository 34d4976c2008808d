"""Probabilistically certified accuracy (PCA) of a model under a semantic
transformation family, with CC-Cert (PROTOCOL.md).

The sampler draws nbounds * nsamples transformations per image, draw j of
image i a function of (seed, i, j) alone (so any subset of images, any
batch size, early exit and resumption reproduce the same draws),
runs the model on them in large batches and keeps only what the bound
needs: Y_j = ||p0 - p(T_j(x))||_inf, the prediction flips and the correct
predictions. The statistics live in `certify_bounds`; this module does not
know which transformation it certifies.

One image group's rows come from `certify_rows`; a model's whole,
resumable certificate is `certify.certificate`'s.
"""

import functools
from typing import Callable, Dict, List, Sequence

import numpy as np
import tensorflow as tf

from csam_tf.certify import bounds as certify_bounds
from csam_tf.certify import rows as csv_rows
from csam_tf.transforms import semantic as transforms
from csam_tf.certify.config import CertifyConfig

# Maps a float32 batch of images in [0, 1] to logits (numpy or tensor).
Predict = Callable[[np.ndarray], np.ndarray]


def sample_statistics(predict: Predict, images: np.ndarray,
                      indices: Sequence[int], labels: np.ndarray, ranges,
                      cfg: CertifyConfig, exit_at: float = None,
                      apply=None) -> Dict[str, np.ndarray]:
  """Per image: p0, Y (nbounds * nsamples), flips and correct predictions
  under the sampled transformations, and how many samples were evaluated.

  With `exit_at` (CC-Cert only) an image stops early once it cannot be
  certified at any eps <= exit_at: a wrong clean prediction is never
  sampled, and sampling stops at the first block whose bound b_k / delta
  reaches exit_at (the bound is the maximum over blocks). The draws are
  the same either way, so every completed bound is identical; unevaluated
  entries of Y are NaN. `apply(images, params)` is the transformation
  (csam_tf.transforms.plugin); None: the protocol's families.
  """
  total = cfg.nbounds * cfg.nsamples
  p0 = _softmax(np.asarray(predict(images)))
  top1 = p0.argmax(1)
  top2 = np.sort(p0, axis=1)[:, -2:]
  margin = (top2[:, 1] - top2[:, 0]) / 2.0
  y = np.full((len(images), total), np.nan)
  flips = np.zeros(len(images), np.int64)
  correct = np.zeros(len(images), np.int64)
  evaluated = np.zeros(len(images), np.int64)
  for row, (image, index) in enumerate(zip(images, indices)):
    if exit_at is not None and top1[row] != labels[row]:
      continue
    draws = _DrawnImages(image, image_draws(ranges, cfg.seed, int(index),
                                            total), _copies_function(apply))
    start = 0
    while start < total:
      stop = min(start + cfg.batch_size, total)
      if exit_at is not None and start == 0:
        # The first block goes alone: most images that cannot be
        # certified then cost one block.
        stop = min(stop, cfg.nsamples)
      p = _softmax(np.asarray(predict(draws.get(start, stop))))
      shift = np.max(np.abs(p - p0[row]), axis=1)
      predicted = p.argmax(1)
      # Counted block by block, so an early exit ends at the end of the
      # block that rules eps out, whatever the batch size.
      ends = [end for end in range(start - start % cfg.nsamples +
                                   cfg.nsamples, stop, cfg.nsamples)]
      for a, b in zip([start] + ends, ends + [stop]):
        y[row, a:b] = shift[a - start:b - start]
        flips[row] += int(np.sum(predicted[a - start:b - start] != top1[row]))
        correct[row] += int(np.sum(predicted[a - start:b - start] ==
                                   labels[row]))
        evaluated[row] = b
        if (exit_at is not None and b % cfg.nsamples == 0 and
            _bound_so_far(y[row], margin[row], b, cfg) >= exit_at):
          start = total  # stop this image
          break
      else:
        start = stop
  return {"p0": p0, "margin": margin, "y": y, "flips": flips,
          "correct": correct, "evaluated": evaluated}


def _bound_so_far(y_row, margin, evaluated, cfg):
  """A lower bound of the image's final bound from the samples so far:
  CC-Cert's max_k min(1, b_k / delta) over the blocks evaluated (a max over
  blocks only grows); binomial's bound with the violations counted so far
  (their count only grows)."""
  if cfg.bound == "binomial":
    return float(certify_bounds.clopper_pearson_upper(
        np.array([np.sum(y_row[:evaluated] >= margin)]),
        cfg.nbounds * cfg.nsamples, cfg.delta)[0])
  blocks = evaluated // cfg.nsamples
  if blocks == 0:
    return 0.0
  return float(certify_bounds.cc_cert_bound(
      y_row[None, :blocks * cfg.nsamples], np.array([margin]), blocks,
      cfg.nsamples, cfg.delta)[0])


def exit_threshold(cfg: CertifyConfig):
  """The eps above which early exit leaves PCA unknown: the largest eps
  reported, so every reported PCA is exact; None computes every block."""
  if cfg.full_bounds or cfg.bound == "clopper_pearson":
    return None
  return max(set(csv_rows.EPS_VALUES) | {cfg.eps})


def certify_rows(predict: Predict, images: np.ndarray, indices, labels,
                 ranges, cfg: CertifyConfig, apply=None) -> List[dict]:
  """One CSV row per image. `bound` is the full bound when `complete`;
  after an early exit, the bound of the blocks evaluated (a lower bound of
  the full one, already too large to certify); NaN when never sampled
  (wrong clean prediction)."""
  stats = sample_statistics(predict, images, indices, labels, ranges, cfg,
                            exit_threshold(cfg), apply)
  total = cfg.nbounds * cfg.nsamples
  prediction = stats["p0"].argmax(1)
  rows = []
  for r, (index, label) in enumerate(zip(indices, labels)):
    evaluated = int(stats["evaluated"][r])
    if evaluated == 0:
      bound = float("nan")
    elif cfg.bound == "ccert":
      blocks = evaluated // cfg.nsamples
      bound = float(certify_bounds.cc_cert_bound(
          stats["y"][r:r + 1, :blocks * cfg.nsamples],
          stats["margin"][r:r + 1], blocks, cfg.nsamples, cfg.delta)[0])
    elif cfg.bound == "binomial":  # the count of Y >= a, as CC-Cert's event
      bound = _bound_so_far(stats["y"][r], stats["margin"][r], evaluated, cfg)
    else:
      bound = float(certify_bounds.clopper_pearson_upper(
          stats["flips"][r:r + 1], total, cfg.delta)[0])
    complete = evaluated == total or prediction[r] != label
    rows.append({
        "index": int(index), "label": int(label),
        "prediction": int(prediction[r]), "margin": float(stats["margin"][r]),
        "bound": bound, "flips": int(stats["flips"][r]),
        "correct_transformed": int(stats["correct"][r]),
        "samples": evaluated, "complete": int(complete),
        "certified": int(prediction[r] == label and complete and
                         bound < cfg.eps)})
  return rows


def image_draws(ranges, seed: int, index: int, total: int):
  """The parameters of draws 0..total-1 of image `index`.

  One stateless stream per (seed, image index): Philox is counter-based, so
  draw j is the j-th value of that stream whatever `total` is, and batch
  size, early exit, sharding and resumption never change what is drawn
  (PROTOCOL.md, certification step 7).
  """
  return transforms.sample_params(
      ranges, total, tf.constant([seed, index], tf.int64))


# Draws are transformed in aligned chunks of this many, whatever the batch
# size: a vectorised sin, cos or exp rounds a lane of a full SIMD packet
# differently from the scalar tail, so draw j must always sit at the same
# place of a tensor of the same length to come out bit for bit the same.
TRANSFORM_CHUNK = 100


class _DrawnImages:
  """The transformed copies of one image, draw by draw, computed chunk by
  chunk (the last chunk padded by repeating its last draw)."""

  def __init__(self, image, params, copies):
    self._copies = copies
    self._image = tf.constant(image)
    self._params = {name: values.numpy() for name, values in params.items()}
    self._cached = (None, None)

  def _chunk(self, first):
    if self._cached[0] != first:
      chunk = {}
      for name, values in self._params.items():
        part = values[first:first + TRANSFORM_CHUNK]
        chunk[name] = np.pad(part, (0, TRANSFORM_CHUNK - len(part)),
                             mode="edge")
      self._cached = (first, self._copies(self._image, chunk).numpy())
    return self._cached[1]

  def get(self, start: int, stop: int) -> np.ndarray:
    """Draws start..stop-1, stacked."""
    first = start - start % TRANSFORM_CHUNK
    return np.concatenate([
        self._chunk(c)[max(start - c, 0):min(stop - c, TRANSFORM_CHUNK)]
        for c in range(first, stop, TRANSFORM_CHUNK)])


@tf.function(reduce_retracing=True)
def _transformed_copies(image, params):
  """One transformed copy of `image` per parameter set (traced: the ops
  fuse; one trace per family, as the parameter names differ)."""
  count = tf.shape(next(iter(params.values())))[0]
  return transforms.apply_params(tf.repeat(image[None], count, axis=0),
                                 params)


def _copies_function(apply):
  """_transformed_copies for a plug-in's `apply`; None: the protocol's,
  looked up at each call (csam_tf.step_profile times it by patching it)."""
  return _transformed_copies if apply is None else _plugin_copies(apply)


@functools.lru_cache(maxsize=None)
def _plugin_copies(apply):
  """One traced copies function per plug-in transformation."""

  @tf.function(reduce_retracing=True)
  def copies(image, params):
    count = tf.shape(next(iter(params.values())))[0]
    return apply(tf.repeat(image[None], count, axis=0), params)

  return copies


def _softmax(logits: np.ndarray) -> np.ndarray:
  logits = logits - logits.max(axis=1, keepdims=True)
  e = np.exp(logits)
  return e / e.sum(axis=1, keepdims=True)
