"""What a certification run shows people: a printed table, a PNG of PCA
against eps for each model side by side, and TensorBoard scalars + text."""

import os
from typing import Dict, List

import matplotlib
matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from csam_tf.certify import rows as csv_rows

EPS_GRID = np.logspace(-6, 0, 61)


def table(results: Dict[str, Dict[str, float]], eps: float) -> str:
  """A plain-text table, one row per model_family_level."""
  key = f"pca@{eps:g}"
  lines = [f"{'model_family_level':<28} {'images':>6} {'clean':>7} "
           f"{'empirical':>9} {key:>10} {'thr. ratio':>10}"]
  for name, s in sorted(results.items()):
    ratio = s.get("throughput_ratio")
    empirical = s.get("empirical_accuracy")
    lines.append(f"{name:<28} {s['images']:>6} {s['clean_accuracy']:>7.4f} "
                 f"{'-' if empirical is None else format(empirical, '.4f'):>9}"
                 f" {s[key]:>10.4f} "
                 f"{'' if ratio is None else format(ratio, '.2f'):>10}")
  return "\n".join(lines)


def pca_curve(rows: List[dict], eps_grid=EPS_GRID) -> np.ndarray:
  """PCA at every eps of the grid, from the per-image rows."""
  return csv_rows.pca_at(rows, eps_grid)


def plot_pca_vs_eps(curves: Dict[str, np.ndarray], path: str) -> None:
  """One panel per family_level, a line per model."""
  panels = sorted({name.split("_", 1)[1] for name in curves})
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4),
                           squeeze=False)
  for ax, panel in zip(axes[0], panels):
    for name, curve in sorted(curves.items()):
      if name.split("_", 1)[1] == panel:
        ax.semilogx(EPS_GRID, curve, label=name.split("_", 1)[0])
    ax.set(title=panel, xlabel="eps", ylabel="PCA", ylim=(0, 1))
    ax.grid(True, alpha=0.3)
    ax.legend()
  fig.tight_layout()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)


def write_tensorboard(results: Dict[str, Dict[str, float]], eps: float,
                      log_dir: str) -> None:
  """Scalars pca@eps, clean and empirical accuracy per model, and the table."""
  writer = tf.summary.create_file_writer(log_dir)
  with writer.as_default():
    for name, s in results.items():
      for key in ("clean_accuracy", "empirical_accuracy", f"pca@{eps:g}"):
        if s.get(key) is not None:  # no empirical accuracy after early exit
          tf.summary.scalar(f"{name}/{key}", s[key], step=0)
    tf.summary.text("certification", "<pre>" + table(results, eps) + "</pre>",
                    step=0)
  writer.flush()
