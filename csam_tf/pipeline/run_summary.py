"""What `python -m csam_tf.summary --workdir=W` prints: what a run gives
its user, in one screen: dense vs pruned (test accuracy, measured
sparsity, PCA@1e-3 per certified family, .tflite bytes and latency
float32/int8), then where the outputs are and the TensorBoard command. `csam_tf.train` prints it at the
end of a run. Reads report.json only (pure Python: no TensorFlow).
"""

import os
from typing import Any, Dict, List, Optional

from absl import flags

from csam_tf.core import atomic_io, cli
from csam_tf.core.errors import UsageError
from csam_tf.core import workdir as workdir_lib

PROG = "csam_tf.summary"


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


def _get(tree: Dict[str, Any], *keys):
  for key in keys:
    if not isinstance(tree, dict) or key not in tree:
      return None
    tree = tree[key]
  return tree


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
  export = stages.get("export", {})
  compared = export.get("dense_vs_pruned", {})
  rows = {
      "dense": {
          "trained on": ("imported (--init_model)"
                         if run_flags.get("init_model") else
                         objective_text(stages.get("pretrain", {}),
                                        run_flags)),
          "test accuracy": percent(_get(stages, "pretrain", "test_accuracy")),
          "sparsity (pruned layers / whole model)": "0% / 0%",
          **{
              f"PCA@{eps:g} {f.replace('_', ' ')}":
                  percent(_get(certified, f"dense_{f}", f"pca@{eps:g}"))
              for f in families
          },
          ".tflite float32":
              f"{_kb(_get(compared, 'float32', 'bytes_dense'))}"
              f", {_ms(_get(compared, 'float32', 'latency_ms_dense'))}",
          ".tflite int8": f"{_kb(_get(compared, 'int8', 'bytes_dense'))}, "
                          f"{_ms(_get(compared, 'int8', 'latency_ms_dense'))}",
          ".tflite sparse-encoded float32": "-",
      }
  }
  if "finetune" in stages:
    finetune = stages["finetune"]
    rows["pruned"] = {
        "trained on": objective_text(finetune, run_flags),
        "test accuracy": percent(finetune.get("test_accuracy")),
        "sparsity (pruned layers / whole model)":
            f"{percent(finetune.get('sparsity'))} / "
            f"{percent(finetune.get('sparsity_whole_model'))}",
        **{
            f"PCA@{eps:g} {f.replace('_', ' ')}":
                percent(_get(certified, f"pruned_{f}", f"pca@{eps:g}"))
            for f in families
        },
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
  model = (run_flags.get("init_model") or
           f"{run_flags.get('arch', '?')} "
           f"x{run_flags.get('width_multiplier', '?')}")
  lines = [f"Summary of {workdir} ({model}, "
           f"{run_flags.get('dataset', '?')}, seed "
           f"{run_flags.get('seed', '?')}):", ""]
  lines += _table(rows)
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
