"""Figure 4 of `python -m csam_tf.bench`: what C-SAM's mask search costs
against tfmot magnitude pruning, read from the main suite's results.csv
(time per run, accuracy, PCA). No flags here, so tests and other tools
can import it beside the bench's and the demo budget's flags."""

import collections
import csv
import os
import statistics

from csam_tf.core.machine import machine_of


def pipeline_figures(path):
  """Figure 4: C-SAM against tfmot magnitude pruning (default variants,
  50% and 90%) from the main suite's results.csv: mean time per run,
  accuracy and PCA. Minutes are compared on one machine only (a suite
  restored from records may span machines several times apart in speed):
  the machine with the most of these runs; CPU minutes (user + system)
  beside wall minutes, since wall time also counts other work on the
  machine. None when the file is missing."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    rows = [r for r in csv.DictReader(f)
            if r["method"] in ("csam", "magnitude") and
            r["variant"] == "default"]
  machines = collections.Counter(machine_of(r) for r in rows)
  if not machines:
    return {}
  machine = machines.most_common(1)[0][0]
  rows = [r for r in rows if machine_of(r) == machine]
  out = {}
  for method in ("csam", "magnitude"):
    for sparsity in ("0.5", "0.9"):
      group = [r for r in rows if r["method"] == method and
               abs(float(r["target_sparsity"]) - float(sparsity)) < 1e-9]
      if not group:
        continue
      cpu = [r.get("cpu_seconds") for r in group]
      out[(method, sparsity)] = {
          "runs": len(group),
          "machine": machine,
          "wall_minutes": statistics.fmean(
              float(r["wall_seconds"]) for r in group) / 60,
          "cpu_minutes": (statistics.fmean(float(c) for c in cpu) / 60
                          if all(cpu) else None),
          "test_accuracy": statistics.fmean(
              float(r["test_accuracy"]) for r in group),
          "pca": statistics.fmean(
              float(r["pca_composite_L2"]) for r in group)}
  return out


def pipeline_line(sparsity: str, csam: dict, magnitude: dict) -> str:
  """Figure 4's table row for one sparsity."""
  cpu = ""
  if csam["cpu_minutes"] and magnitude["cpu_minutes"]:
    cpu = (f"; CPU {csam['cpu_minutes']:.1f} / "
           f"{magnitude['cpu_minutes']:.1f} min = **"
           f"{csam['cpu_minutes'] / magnitude['cpu_minutes']:.2f}x**")
  return (
      f"| 4 | C-SAM / magnitude run time at {float(sparsity):.0%} "
      f"(mask search + fine-tune + certify vs fine-tune + certify, "
      f"{csam['runs']} and {magnitude['runs']} runs, {csam['machine']}) | "
      f"wall {csam['wall_minutes']:.1f} / {magnitude['wall_minutes']:.1f} "
      f"min = **{csam['wall_minutes'] / magnitude['wall_minutes']:.2f}x**"
      f"{cpu}; accuracy {csam['test_accuracy']:.2%} vs "
      f"{magnitude['test_accuracy']:.2%}, PCA@1e-3 {csam['pca']:.1%} vs "
      f"{magnitude['pca']:.1%} | what robustness costs |")
