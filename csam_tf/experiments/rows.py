"""From a finished run's workdir to its results.csv row (report.json and
experiment.json, and the headline certificate's CSV for the share of images
whose every sample is right), and the rows' selection and compute totals."""

import math
import os
import statistics
import csv
from typing import Dict, List, Optional, Sequence

from csam_tf.core import atomic_io
from csam_tf.core import workdir as workdir_lib
from csam_tf.certify import resume as certify_resume
from csam_tf.certify import rows as csv_rows
from csam_tf.experiments import suites as experiment_suites


EXPERIMENT_FILE = "experiment.json"


CERTIFICATES = (("composite", "L2"), ("composite", "L1"),
                ("brightness", "L2"), ("rotation", "L2"))


HEADLINE_FAMILY = ("composite", "L2")


# The rigorous companion of the headline PCA: the binomial bound on
# P(Y >= a) (certify.config.BOUNDS), composite L2.
BINOMIAL_COLUMN = "pca_binomial_composite_L2"


# PCA's ceiling in practice: the share of images whose every sampled
# transformation is classified right (certify.rows.all_samples_correct).
ALL_CORRECT_COLUMN = "all_correct_composite_L2"


COLUMNS = (
    "run", "method", "variant", "dataset", "arch", "width_multiplier",
    "granularity", "target_sparsity", "sparsity", "sparsity_whole_model",
    "test_accuracy",
    "validation_accuracy", "seed", "cert_images", "cert_eps",
    *[f"{kind}_{family}_{level}" for family, level in CERTIFICATES
      for kind in ("pca", "clean_accuracy", "empirical_accuracy")],
    BINOMIAL_COLUMN, ALL_CORRECT_COLUMN, "objective",
    "mask_binary_test_accuracy", "mask_binary_validation_accuracy",
    "mask_mean", "mask_moved", "magnitude_overlap", "cert_split",
    "parameters", "flops_reduction", "tflite_latency_ms_dense",
    "tflite_latency_ms", "tflite_speedup",
    "wall_seconds", "cpu_seconds", "stage_seconds", "commands", "machine",
    "pretrain_wall_seconds", "pretrain_shared_from")


def result_row(run_dir: str, name: str) -> Optional[Dict[str, object]]:
  """The results.csv row of one finished run, or None if unfinished."""
  spec = atomic_io.read_json(os.path.join(run_dir, EXPERIMENT_FILE))
  report = atomic_io.read_json(os.path.join(run_dir, workdir_lib.REPORT))
  if not spec or not report or not spec.get("complete"):
    return None
  flags, stages = report["flags"], report["stages"]
  dense = spec["method"] in experiment_suites.DENSE_METHODS
  trained = stages["pretrain" if dense else "finetune"]
  pretrain = stages.get("pretrain", {})
  earlier = {key: _earlier(stages, not dense, key)
             for key in ("wall_seconds", "cpu_seconds")}
  row = {
      "run": name, "method": spec["method"], "variant": spec["variant"],
      "dataset": flags["dataset"], "arch": flags["arch"],
      "width_multiplier": flags["width_multiplier"],
      "granularity": "dense" if dense else flags["granularity"],
      "target_sparsity": 0.0 if dense else spec["sparsity"],
      "sparsity": 0.0 if dense else trained["sparsity"],
      # PROTOCOL v2 keeps the first conv and the classifier whole, so the
      # whole model is a little less sparse than the pruned layers.
      "sparsity_whole_model": 0.0 if dense else trained.get(
          "sparsity_whole_model", ""),
      "test_accuracy": trained["test_accuracy"],
      "validation_accuracy": trained["validation_accuracy"],
      "seed": spec["seed"], "cert_eps": flags["cert_eps"],
      "wall_seconds": round(sum(c["seconds"] for c in spec["commands"]) +
                            earlier["wall_seconds"], 1),
      "cpu_seconds": _cpu_seconds(spec["commands"], stage_seconds(
          stages, shared_pretrain=not dense), _resumed(stages, not dense),
          earlier),
      "machine": " + ".join(sorted({c["machine"] for c in spec["commands"]
                                    if "machine" in c})),
      "stage_seconds": stage_seconds(stages, shared_pretrain=not dense),
      "commands": len(spec["commands"]),
      "pretrain_wall_seconds": pretrain.get("wall_seconds", ""),
      "pretrain_shared_from": spec.get("pretrain_from", ""),
  }
  searched = stages.get("mask", {})
  if "binary_test_accuracy" in searched:  # the masks before fine-tuning
    row["mask_binary_test_accuracy"] = searched["binary_test_accuracy"]
    row["mask_binary_validation_accuracy"] = searched.get(
        "binary_validation_accuracy", "")
    row["mask_mean"] = searched.get("mask_mean", "")
    row["mask_moved"] = searched.get("mask_moved", "")
    row["magnitude_overlap"] = searched.get("magnitude_overlap", "")
  row["cert_split"] = flags.get("cert_split", "test")
  if "parameters_pruned" in trained:
    row["parameters"] = trained["parameters_pruned"]
    row["flops_reduction"] = trained["flops_dense"] / trained["flops_pruned"]
  compared = stages.get("export", {}).get("dense_vs_pruned")
  if compared:
    row["tflite_latency_ms_dense"] = compared["float32"]["latency_ms_dense"]
    row["tflite_latency_ms"] = compared["float32"]["latency_ms_pruned"]
    row["tflite_speedup"] = compared["float32"]["speedup"]
  model = "dense" if dense else "pruned"
  certified = stages.get("certify", {})
  for family, level in CERTIFICATES:
    result = certified.get(f"{model}_{family}_{level}")
    if result:
      row[f"pca_{family}_{level}"] = result[f"pca@{flags['cert_eps']:g}"]
      row[f"clean_accuracy_{family}_{level}"] = result["clean_accuracy"]
      empirical = result.get("empirical_accuracy")
      row[f"empirical_accuracy_{family}_{level}"] = (
          "" if empirical is None else empirical)
      row["cert_images"] = result["images"]
  headline_csv = certify_resume.certificate_csv(
      os.path.join(run_dir, workdir_lib.CERTIFY_DIR), model, *HEADLINE_FAMILY)
  if os.path.exists(headline_csv):  # older reports lack the figure
    share = csv_rows.all_samples_correct(csv_rows.read_rows(headline_csv))
    row[ALL_CORRECT_COLUMN] = "" if math.isnan(share) else share
  row["objective"] = trained.get("objective", "ce")
  binomial = certified.get(certify_resume.certificate_key(
      model, *HEADLINE_FAMILY, "binomial"))
  if binomial:
    row[BINOMIAL_COLUMN] = binomial[f"pca@{flags['cert_eps']:g}"]
  return {column: row.get(column, "") for column in COLUMNS}


# A run whose stages recorded more wall time than its recorded commands
# took, beyond this slack, did part of its work in a command whose runner
# was killed before it could record the command's CPU time.
UNRECORDED_WORK_SLACK = (1.05, 60.0)


def _own_stages(stages, shared_pretrain: bool):
  """The run's own stage records (a shared pre-training is the dense
  run's)."""
  return [stage for name, stage in stages.items()
          if isinstance(stage, dict) and
          not (name == "pretrain" and shared_pretrain)]


def _resumed(stages, shared_pretrain: bool) -> bool:
  """A training stage of the run resumed from a checkpoint whose earlier
  invocations' time it does not know (checkpoints from before
  `earlier_invocations`): that time is in no record."""
  return any(stage.get("resumed_after_epoch", 0) > 0 and
             "earlier_invocations" not in stage
             for stage in _own_stages(stages, shared_pretrain))


def _earlier(stages, shared_pretrain: bool, key: str) -> float:
  """Seconds (`key`: wall or CPU) the run's resumed stages trained for in
  earlier invocations, up to the checkpoint they resumed from: the killed
  command recorded none of it."""
  return sum(_earlier_seconds(stage, key)
             for stage in _own_stages(stages, shared_pretrain))


def _earlier_seconds(stage, key: str) -> float:
  """One stage's `earlier_invocations` seconds (0 when it did not resume
  or its checkpoint had none)."""
  return stage.get("earlier_invocations", {}).get(key, 0.0)


def _cpu_seconds(commands, stages_wall_seconds, resumed=False,
                 earlier=None):
  """The commands' CPU seconds plus what resumed stages trained for
  before (`earlier`: wall_seconds and cpu_seconds); empty for runs made
  before the runner measured them, and for runs resumed after their
  runner was killed without that record (the killed command's CPU time
  was never recorded: the sum would undercount; such a stage says it
  resumed, and for runs recorded before stages said it,
  `stages_wall_seconds` above the commands' wall time shows it)."""
  if resumed or not all("cpu_seconds" in c for c in commands):
    return ""
  earlier = earlier or {}
  factor, slack = UNRECORDED_WORK_SLACK
  if stages_wall_seconds > factor * (sum(c["seconds"] for c in commands) +
                                     earlier.get("wall_seconds", 0.0)) + slack:
    return ""
  return round(sum(c["cpu_seconds"] for c in commands) +
               earlier.get("cpu_seconds", 0.0), 1)


def write_csv(path: str, rows: Sequence[Dict[str, object]]) -> None:
  """results.csv, written atomically."""

  def write(tmp):
    with open(tmp, "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=COLUMNS)
      writer.writeheader()
      writer.writerows(rows)

  atomic_io.write_atomically(path, write, suffix=".csv")


def certified_images(run_dir: str, row: Dict[str, object]) -> set:
  """Indices of the images the run's headline certificate certified (the
  first cert_images rows of its CSV)."""
  model = ("dense" if row["method"] in experiment_suites.DENSE_METHODS
           else "pruned")
  path = certify_resume.certificate_csv(
      os.path.join(run_dir, workdir_lib.CERTIFY_DIR), model, *HEADLINE_FAMILY)
  rows = csv_rows.read_rows(path)[:int(row["cert_images"])]
  return {r["index"] for r in rows if r["certified"]}


def stage_seconds(stages, shared_pretrain: bool) -> float:
  """The run's own compute: the wall time each stage recorded (summed
  over resumptions, so an interrupted run is not undercounted the way its
  command times are) and every certificate's; a shared pre-training (copied
  from the dense run) is not counted again."""
  total = 0.0
  for name, stage in stages.items():
    if name == "certify":
      total += sum(c.get("seconds_this_invocation", 0.0)
                   for c in stage.values() if isinstance(c, dict))
    elif not (name == "pretrain" and shared_pretrain):
      total += stage.get("wall_seconds", 0.0) + _earlier_seconds(
          stage, "wall_seconds")
  return round(total, 1)


def suite_hours(rows) -> float:
  """Hours of stage compute over the rows (see `stage_seconds`)."""
  return sum(float(r["stage_seconds"] or 0.0) for r in rows) / 3600.0


def startup_seconds(rows) -> float:
  """Median seconds per command spent outside the stages (process start,
  imports, data loading), over the runs whose commands all completed
  (an interrupted command's time is not in `wall_seconds`)."""
  per_command = [(float(r["wall_seconds"]) - float(r["stage_seconds"])) /
                 int(r["commands"]) for r in rows
                 if r["commands"] and
                 float(r["wall_seconds"]) >= float(r["stage_seconds"])]
  return statistics.median(per_command) if per_command else 0.0


def collect_rows(root: str, names: Sequence[str]) -> List[Dict[str, object]]:
  """Rows of the finished runs among `names` under `root`."""
  rows = []
  for name in names:
    row = result_row(os.path.join(root, name), name)
    if row is not None:
      rows.append(row)
  return rows


def select_rows(rows, **match):
  return [r for r in rows if all(
      (math.isclose(float(r[k]), v) if isinstance(v, float) else r[k] == v)
      for k, v in match.items())]


def label_rows(rows, label, sparsity=None):
  """The rows of a table label: "csam" is the default variant,
  "csam-global" its labelled variant; at `sparsity` unless None (a dense
  model's label)."""
  method, _, variant = label.partition("-")
  match = {} if sparsity is None else {"target_sparsity": sparsity}
  return select_rows(rows, method=method, variant=variant or "default",
                     **match)
