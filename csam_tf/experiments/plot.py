"""The PCA-vs-sparsity figure of a suite (mean and sd over seeds, dense as
a line), written atomically as a PNG."""

import statistics
from typing import Sequence

from csam_tf.core import atomic_io
from csam_tf.experiments.rows import HEADLINE_FAMILY, select_rows


def plot_pca_vs_sparsity(rows, methods: Sequence[str],
                         sparsities: Sequence[float], path: str) -> bool:
  """PCA@1e-3 (composite L2) and test accuracy against sparsity, mean and
  sd over seeds, dense as a line; False when nothing to plot."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  figure, axes = plt.subplots(1, 2, figsize=(10, 4))
  plotted = False
  for ax, column, title in ((axes[0], pca, "PCA@1e-3, composite L2 (%)"),
                            (axes[1], "test_accuracy", "test accuracy (%)")):
    dense = [float(r[column]) * 100 for r in select_rows(rows, method="dense")
             if r[column] != ""]
    if dense:
      ax.axhline(statistics.fmean(dense), color="gray", linestyle="--",
                 label=f"dense (n={len(dense)})")
    for method in methods:
      xs, means, sds = [], [], []
      for sparsity in sparsities:
        values = [float(r[column]) * 100 for r in select_rows(
            rows, method=method, variant="default", target_sparsity=sparsity)
                  if r[column] != ""]
        if values:
          xs.append(sparsity * 100)
          means.append(statistics.fmean(values))
          sds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
      if xs:
        plotted = True
        ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3,
                    label=method)
    ax.set_xlabel("unstructured sparsity (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  figure.tight_layout()
  if plotted:
    atomic_io.write_atomically(path, lambda tmp: figure.savefig(
        tmp, dpi=100, format="png"), suffix=".png")
  plt.close(figure)
  return plotted
