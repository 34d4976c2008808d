"""The certification CSV rows: one per image (the sampler writes them,
the report and the tables read them), and the figures made from them.

Rows go to <workdir>/certify/<model>_<family>_<level>.csv, rewritten
atomically after each group of images, so a killed run resumes after the
last group it finished.
"""

import csv
import io
import os
from typing import Dict, List

import numpy as np

from csam_tf.core import atomic_io
from csam_tf.certify.config import CertifyConfig

CSV_FIELDS = ("index", "label", "prediction", "margin", "bound", "flips",
              "correct_transformed", "samples", "complete", "certified")
EPS_VALUES = (1e-2, 1e-3, 1e-4)


def pca_at(rows: List[dict], eps_values) -> np.ndarray:
  """PCA at each eps: correct clean prediction and bound below eps. NaN
  where an early-exited image's partial bound is below eps (its full bound
  is unknown there)."""
  correct = np.array([r["prediction"] == r["label"] for r in rows])
  bound = np.array([r["bound"] for r in rows], np.float64)
  complete = np.array([r.get("complete", 1) for r in rows], bool)
  with np.errstate(invalid="ignore"):
    return np.array([
        np.nan if np.any(correct & ~complete & (bound < eps))
        else np.mean(correct & complete & (bound < eps))
        for eps in eps_values])


def all_samples_correct(rows: List[dict]) -> float:
  """The share of images whose clean prediction and every sampled
  transformation are classified right: PCA's ceiling in practice (a
  flipped sample has Y >= a, so a certified image rarely has one). NaN
  when some image was not sampled to the end (early exit: its unseen
  samples are unknown)."""
  total = max((r["samples"] for r in rows), default=0)
  if not rows or any(r["samples"] < total for r in rows):
    return float("nan")
  return float(np.mean([r["prediction"] == r["label"] and r["samples"] > 0
                        and r["correct_transformed"] == r["samples"]
                        for r in rows]))


def summarize(rows: List[dict], cfg: CertifyConfig) -> Dict[str, float]:
  """PCA at each eps, clean and empirical accuracy."""
  correct = np.array([r["prediction"] == r["label"] for r in rows])
  samples = sum(r["samples"] for r in rows)
  eps_values = sorted(set(EPS_VALUES) | {cfg.eps})
  summary = {f"pca@{eps:g}": float(pca)
             for eps, pca in zip(eps_values, pca_at(rows, eps_values))}
  early = sum(r["samples"] for r in rows) < len(rows) * cfg.nbounds * \
      cfg.nsamples
  drawn = sum(r["correct_transformed"] for r in rows) / max(samples, 1)
  summary.update(
      clean_accuracy=float(np.mean(correct)),
      # The protocol's empirical accuracy covers every image's samples;
      # after early exits the drawn ones over-represent stable images, so
      # that figure is not reported (--cert_full_bounds measures it).
      empirical_accuracy=None if early else drawn,
      all_samples_correct=None if early else all_samples_correct(rows),
      empirical_accuracy_of_drawn_samples=drawn,
      samples_evaluated=samples, early_exit=bool(early),
      images=len(rows), bound=cfg.bound, nsamples=cfg.nsamples,
      nbounds=cfg.nbounds, delta=cfg.delta)
  return summary


def read_rows(path: str) -> List[dict]:
  """Rows already certified (a resumed run continues after them)."""
  if not os.path.exists(path):
    return []
  with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
  types = {"margin": float, "bound": float}
  # rows written before early exit existed were all complete
  return [{"complete": 1, **{k: types.get(k, int)(v)
                             for k, v in row.items()}} for row in rows]


def write_rows(path: str, rows: List[dict]) -> None:
  """All rows, written atomically."""
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
  writer.writeheader()
  writer.writerows(rows)

  def write(tmp):
    with open(tmp, "w", newline="") as f:
      f.write(buffer.getvalue())

  atomic_io.write_atomically(path, write, suffix=".csv")
