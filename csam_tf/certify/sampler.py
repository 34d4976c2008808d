"""Probabilistically certified accuracy (PCA) of a model under a semantic
transformation family, with CC-Cert (PROTOCOL.md).

The sampler draws nbounds * nsamples transformations per image, draw j of
image i a function of (seed, i, j) alone (so any subset of images, any
batch size, early exit and resumption reproduce the same draws),
runs the model on them in large batches and keeps only what the bound
needs: Y_j = ||p0 - p(T_j(x))||_inf, the prediction flips and the correct
predictions. The statistics live in `certify_bounds`; this module does not
know which transformation it certifies.

Rows (one per image) are written through `certify.rows`.
"""

import functools
import os
import time
from typing import Callable, Dict, List, Sequence

import numpy as np
import tensorflow as tf

from csam_tf import atomic_io, progress
from csam_tf.certify import bounds as certify_bounds
from csam_tf.certify import resume as certify_resume
from csam_tf.certify import rows as csv_rows
from csam_tf.transforms import semantic as transforms
from csam_tf.certify.config import CertifyConfig
from csam_tf.transforms import plugin

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


def certify_model(predict: Predict, images: np.ndarray, labels: np.ndarray,
                  family, level: str, cfg: CertifyConfig,
                  csv_path: str, shard=(0, 1)) -> Dict[str, float]:
  """Certifies the first cfg.num_images images (of them, every shard[1]-th
  from shard[0] when sharded across workers), resuming from csv_path when
  it was made with the same settings and model (certify_resume), else
  refusing with a UsageError before any image is certified. `family`: a
  protocol family's name, a plug-in spec, or a loaded transformation."""
  start = time.time()
  transform = plugin.load(family) if isinstance(family, str) else family
  ranges = plugin.level_ranges(transform, level)
  apply = None if isinstance(transform, plugin.ProtocolFamily) else (
      transform.apply)
  settings = certify_resume.csv_settings(
      cfg, transform.name, level, ranges,
      getattr(predict, "fingerprint", None))
  if not cfg.restart:
    certify_resume.check_resumable(csv_path, settings)
  certify_resume.start(csv_path, settings, cfg.restart)
  rows = csv_rows.read_rows(csv_path)
  wanted = list(range(shard[0], min(cfg.num_images, len(images)), shard[1]))
  n = len(wanted)
  done_before = len(rows)
  for first in range(len(rows), n, cfg.images_per_group):
    group = wanted[first:first + cfg.images_per_group]
    rows += certify_rows(predict, images[group], group, labels[group],
                         ranges, cfg, apply)
    csv_rows.write_rows(csv_path, rows)
    progress.report(os.path.basename(csv_path), len(rows) - done_before,
                    n - done_before, start, " images")
  progress.report(os.path.basename(csv_path), len(rows) - done_before,
                  n - done_before, start, " images", final=True)
  summary = csv_rows.summarize(rows[:n], cfg)
  summary["seconds_this_invocation"] = round(time.time() - start, 1)
  spent = max(time.time() - start, 1e-9)
  summary["forward_passes_per_second"] = round(
      sum(r["samples"] for r in rows[done_before:]) / spent, 1)
  summary["images_per_second"] = round((len(rows) - done_before) / spent, 3)
  return summary


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


def first_images(data, count: int, split: str = "test"):
  """The first `count` images and labels of `split` as numpy arrays
  (validation: for choosing settings; test: for the final tables)."""
  images, labels = [], []
  for batch_images, batch_labels in data.evaluation(split):
    images.append(batch_images.numpy())
    labels.append(batch_labels.numpy())
    if sum(len(x) for x in images) >= count:
      break
  return (np.concatenate(images)[:count], np.concatenate(labels)[:count])


def plain_throughput(predict: Predict, images: np.ndarray, batch_size: int,
                     repeats: int = 3) -> float:
  """Images per second of plain batched inference at `batch_size` (median
  of `repeats` after a warm-up): the yardstick of certification speed."""
  batch = np.resize(images, (batch_size, *images.shape[1:]))
  predict(batch)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    predict(batch)
    times.append(time.perf_counter() - start)
  return batch_size / float(np.median(times))


def shard_csv(out_dir: str, key: str, shard) -> str:
  """The CSV of one worker's share of the images."""
  return os.path.join(out_dir, f"{key}.shard{shard[0]}of{shard[1]}.csv")


def merge_shards(shard_dirs: Sequence[str], out_dir: str, keys) -> None:
  """Joins the workers' shard CSVs (worker k's in shard_dirs[k]) into one
  CSV per key, rows in image order."""
  count = len(shard_dirs)
  for key in keys:
    rows = [row for k, folder in enumerate(shard_dirs)
            for row in csv_rows.read_rows(shard_csv(folder, key, (k, count)))]
    merged = os.path.join(out_dir, f"{key}.csv")
    csv_rows.write_rows(merged, sorted(rows, key=lambda row: row["index"]))
    # the shards share their settings: the merged CSV resumes with them
    settings = atomic_io.read_json(certify_resume.settings_path(
        shard_csv(shard_dirs[0], key, (0, count))))
    if settings is not None:
      atomic_io.write_json(certify_resume.settings_path(merged), settings)


class KerasPredictor:
  """A traced, retracing-free `images -> logits` of a tf_keras model, with
  the fingerprint of its weights (what a resumed CSV must have been made
  with)."""

  def __init__(self, model, input_shape):
    self._model = model
    self._traced = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, *input_shape], tf.float32)])

  @functools.cached_property
  def fingerprint(self) -> str:
    return certify_resume.fingerprint_bytes(
        np.ascontiguousarray(w).tobytes() for w in self._model.get_weights())

  def __call__(self, images):
    return self._traced(images).numpy()
