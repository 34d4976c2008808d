"""One model's certificate under one family and level: the first N images
certified group by group into a CSV that a killed run resumes (certify.
resume decides whether it may), and the summary of its rows."""

import os
import time
from typing import Dict

import numpy as np

from csam_tf.core import fault_injection, progress
from csam_tf.certify import resume as certify_resume
from csam_tf.certify import rows as csv_rows
from csam_tf.certify.config import CertifyConfig
from csam_tf.certify.sampler import Predict, certify_rows
from csam_tf.transforms import plugin


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
  name = os.path.basename(csv_path)
  for first in range(len(rows), n, cfg.images_per_group):
    group = wanted[first:first + cfg.images_per_group]
    rows += certify_rows(predict, images[group], group, labels[group],
                         ranges, cfg, apply)
    csv_rows.write_rows(csv_path, rows)
    fault_injection.kill_point(f"certify:{name}:{len(rows)}")
    progress.report(name, len(rows) - done_before,
                    n - done_before, start, " images")
  progress.report(name, len(rows) - done_before,
                  n - done_before, start, " images", final=True)
  summary = csv_rows.summarize(rows[:n], cfg)
  summary["seconds_this_invocation"] = round(time.time() - start, 1)
  spent = max(time.time() - start, 1e-9)
  summary["forward_passes_per_second"] = round(
      sum(r["samples"] for r in rows[done_before:]) / spent, 1)
  summary["images_per_second"] = round((len(rows) - done_before) / spent, 3)
  return summary


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
