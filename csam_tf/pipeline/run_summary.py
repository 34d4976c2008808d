"""What `python -m csam_tf.summary --workdir=W` prints: what a run gives
its user, in one screen: dense vs pruned (how it was pruned and trained,
test accuracy, measured sparsity, PCA@1e-3 per certified family, .tflite
bytes and latency float32/int8), and tfmot as users run it beside them
when the run made that baseline (`--tfmot_baseline`), with the points the
run gained or lost against it; then where the outputs are and the
TensorBoard command. `csam_tf.train` prints it at the end of a run. Reads
report.json only (pure Python: no TensorFlow).
"""

import os
from typing import Any, Dict, List, Optional

from absl import flags

from csam_tf.core import atomic_io, cli
from csam_tf.core.errors import UsageError
from csam_tf.core import workdir as workdir_lib
from trainers.mask_search_config import allocation

PROG = "csam_tf.summary"
_MASK_NAMES = {"csam": "C-SAM"}
BASELINE_COLUMN = "tfmot as users run it"


def percent(value: Optional[float]) -> str:
  """0.9029 -> '90.29%', None -> '-' (a figure the run did not make)."""
  return "-" if value is None else f"{100 * value:.2f}%"


def _kb(value: Optional[int]) -> str:
  return "-" if value is None else f"{value / 1024:,.0f} KB"


def _ms(value: Optional[float]) -> str:
  return "-" if value is None else f"{value:.3f} ms"


def objective_text(stage: Dict[str, Any], run_flags: Dict[str, Any]) -> str:
  """What a training stage's weights were trained on, as the plan line
  counts views (the clean image is one). The stage's own record of its
  settings first (a dense model shared from another run was trained with
  that run's), the run's flags for reports that predate it."""
  if stage.get("objective") == "robust":
    robust = stage.get("robust") or {
        "weight": run_flags.get("robust_lambda", 0),
        "views": run_flags.get("robust_views", 2),
        "clean_view": run_flags.get("robust_clean_view", True)}
    views = int(robust["views"]) + int(bool(robust["clean_view"]))
    return f"robust, lambda {float(robust['weight']):g}, {views} views"
  if stage.get("objective") == "ce":
    return "cross-entropy"
  return "-"


def pruning_text(run_flags: Dict[str, Any]) -> str:
  """How a run chose the weights it removed, e.g. 'C-SAM masks, global'
  or 'tfmot gradual magnitude, layer-wise'."""
  where = allocation(run_flags.get("binarize", "auto"),
                     run_flags.get("granularity", "unstructured"))
  where = "layer-wise" if where == "layerwise" else where
  if run_flags.get("finetune_pruning") == "polynomial_decay":
    return f"tfmot gradual magnitude, {where}"
  method = run_flags.get("mask_method", "csam")
  return f"{_MASK_NAMES.get(method, method)} masks, {where}"


def _get(tree: Dict[str, Any], *keys):
  for key in keys:
    if not isinstance(tree, dict) or key not in tree:
      return None
    tree = tree[key]
  return tree


def _pca_name(eps, family_level):
  return f"PCA@{eps:g} {family_level.replace('_', ' ')}"


def _pca_rows(certified, model, families, eps):
  return {_pca_name(eps, f):
              percent(_get(certified, f"{model}_{f}", f"pca@{eps:g}"))
          for f in families}


def _pruned_column(stages, run_flags, families, eps):
  """A run's pruned model: its pruning, objective, accuracy, sparsity,
  PCA and .tflite files."""
  finetune, export = stages["finetune"], stages.get("export", {})
  return {
      "pruned by": pruning_text(run_flags),
      "trained on": objective_text(finetune, run_flags),
      "test accuracy": percent(finetune.get("test_accuracy")),
      "sparsity (pruned layers / whole model)":
          f"{percent(finetune.get('sparsity'))} / "
          f"{percent(finetune.get('sparsity_whole_model'))}",
      **_pca_rows(stages.get("certify", {}), "pruned", families, eps),
      ".tflite float32":
          f"{_kb(_get(export, 'float32', 'bytes'))}, "
          f"{_ms(_get(export, 'float32', 'median_latency_ms_1_image'))}",
      ".tflite int8":
          f"{_kb(_get(export, 'int8', 'bytes'))}, "
          f"{_ms(_get(export, 'int8', 'median_latency_ms_1_image'))}",
      # unstructured zeros only shrink the file when stored sparse
      ".tflite sparse-encoded float32":
          f"{_kb(_get(export, 'sparse', 'bytes'))}, "
          f"{_ms(_get(export, 'sparse', 'median_latency_ms_1_image'))}",
  }


def _baseline_stages(workdir):
  """The stages of `--tfmot_baseline`'s run beside `workdir`, with its
  flags, once it fine-tuned (else None)."""
  report = atomic_io.read_json(os.path.join(
      workdir, workdir_lib.TFMOT_BASELINE_DIR, workdir_lib.REPORT)) or {}
  if "finetune" not in report.get("stages", {}):
    return None
  return report["stages"], report.get("flags", {})


def _against_baseline(rows, families, eps) -> List[str]:
  """The sentence that says what the run bought against tfmot as users
  run it: points of PCA per family and of test accuracy."""
  ours, theirs = rows["pruned"], rows[BASELINE_COLUMN]
  differences = []
  for name in [_pca_name(eps, f) for f in families] + ["test accuracy"]:
    if "-" in (ours[name], theirs[name]):
      continue
    points = float(ours[name].rstrip("%")) - float(theirs[name].rstrip("%"))
    differences.append(f"{name} {points:+.2f} points")
  if not differences:
    return []
  return ["", f"Against tfmot as users run it (the same dense model, "
          f"tfmot's layer-wise gradual magnitude pruning, cross-entropy "
          f"fine-tuning for the same steps): {', '.join(differences)}."]


def summary_text(workdir: str) -> str:
  """The summary of the run in `workdir` (raises UsageError without a
  report.json)."""
  report = atomic_io.read_json(os.path.join(workdir, workdir_lib.REPORT))
  if not report or "stages" not in report:
    raise UsageError(f"--workdir={workdir} holds no csam_tf.train report "
                     f"(report.json): run csam_tf.train on it first")
  stages, run_flags = report["stages"], report.get("flags", {})
  eps = run_flags.get("cert_eps", 1e-3)
  certified = stages.get("certify", {})
  families = sorted({key.split("_", 1)[1] for key in certified
                     if isinstance(certified[key], dict) and
                     key.startswith(("dense_", "pruned_"))})
  compared = stages.get("export", {}).get("dense_vs_pruned", {})
  rows = {
      "dense": {
          "pruned by": "-",
          "trained on": ("imported (--init_model)"
                         if run_flags.get("init_model") else
                         objective_text(stages.get("pretrain", {}),
                                        run_flags)),
          "test accuracy": percent(_get(stages, "pretrain", "test_accuracy")),
          "sparsity (pruned layers / whole model)": "0% / 0%",
          **_pca_rows(certified, "dense", families, eps),
          ".tflite float32":
              f"{_kb(_get(compared, 'float32', 'bytes_dense'))}"
              f", {_ms(_get(compared, 'float32', 'latency_ms_dense'))}",
          ".tflite int8": f"{_kb(_get(compared, 'int8', 'bytes_dense'))}, "
                          f"{_ms(_get(compared, 'int8', 'latency_ms_dense'))}",
          ".tflite sparse-encoded float32": "-",
      }
  }
  against = []
  if "finetune" in stages:
    rows["pruned"] = _pruned_column(stages, run_flags, families, eps)
    baseline = _baseline_stages(workdir)
    if baseline:
      rows[BASELINE_COLUMN] = _pruned_column(*baseline, families, eps)
      against = _against_baseline(rows, families, eps)
  model = (run_flags.get("init_model") or
           f"{run_flags.get('arch', '?')} "
           f"x{run_flags.get('width_multiplier', '?')}")
  lines = [f"Summary of {workdir} ({model}, "
           f"{run_flags.get('dataset', '?')}, seed "
           f"{run_flags.get('seed', '?')}):", ""]
  lines += _table(rows) + against
  images = next((v.get("images") for v in certified.values()
                 if isinstance(v, dict) and "images" in v), None)
  if images:
    lines += ["", f"PCA: CC-Cert over the first {images} "
              f"{run_flags.get('cert_split', 'test')} images (README, "
              f"'What the certificate is'); .tflite latency: one image, "
              f"ai-edge-litert, 2 threads, CPU."]
  lines += ["", "Outputs:"]
  for label, relative in (
      ("ship (float32)", workdir_lib.TFLITE["float32"]),
      ("ship (int8)", workdir_lib.TFLITE["int8"]),
      ("ship (sparse-encoded)", workdir_lib.TFLITE["sparse"]),
      ("SavedModel", "export/saved_model"),
      ("pruned tf_keras model", workdir_lib.FINETUNE_MODEL),
      ("every number above", workdir_lib.REPORT),
      ("tfmot baseline", workdir_lib.TFMOT_BASELINE_DIR),
      ("PCA against eps", "certify/pca_vs_eps.png")):
    path = os.path.join(workdir, relative)
    if os.path.exists(path):
      lines.append(f"  {label:<22} {path}")
  lines.append(f"  {'TensorBoard':<22} .venv/bin/tensorboard --logdir "
               f"{os.path.join(workdir, 'tb')}")
  return "\n".join(lines)


def _table(rows: Dict[str, Dict[str, str]]) -> List[str]:
  names = list(next(iter(rows.values())))
  width = max(len(n) for n in names)
  columns = list(rows)
  widths = {c: max(len(c), *(len(rows[c][n]) for n in names))
            for c in columns}
  out = [" " * width + "  " + "  ".join(c.ljust(widths[c]) for c in columns)]
  for name in names:
    out.append(name.ljust(width) + "  " + "  ".join(
        rows[c][name].ljust(widths[c]) for c in columns))
  return out


def main(argv):
  del argv
  text = cli.checked_start(
      PROG, lambda: summary_text(flags.FLAGS.workdir or _missing()),
      tensorflow=False)
  print(text)


def _missing():
  raise UsageError("--workdir is required: the folder of a csam_tf.train run")


def define_flags():
  """This command's one flag, defined by the command itself (csam_tf/
  summary.py), not at import: the train command imports this module and
  has a --workdir of its own."""
  flags.DEFINE_string("workdir", None, "Workdir of a csam_tf.train run.")
