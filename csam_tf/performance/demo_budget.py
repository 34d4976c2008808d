"""`python -m csam_tf.demo_budget`: the demo's compute against the full-quality
run, measured side by side in one invocation (issue 15).

Machines differ by 5-7x, so an absolute time says little about another
machine; the ratio of two configs run one after the other on the same
machine does. Compute is each run's CPU seconds (user + system, from
`os.wait4`, so a busy neighbour inflates wall time more than it does CPU
time); wall time and peak resident memory are given beside it. Every config
runs in a fresh workdir (a resumed run would measure nothing).
"""

import os
import shutil
import sys
from typing import Dict, List, Sequence

from absl import flags

from csam_tf.core import atomic_io, cli, machine
from csam_tf.certify import resume as certify_resume
from csam_tf.core import markdown_sections
from csam_tf.core.errors import UsageError
from csam_tf.core.child_usage import run_measured
from csam_tf.core import workdir as workdir_lib
from csam_tf.pipeline.run_summary import percent

PROG = "csam_tf.demo_budget"
STAGES = workdir_lib.STAGES

flags.DEFINE_list("budget_configs",
                  ["configs/demo.cfg", "configs/fashion_mnist_full.cfg"],
                  "Flagfiles run one after the other; the first is the "
                  "numerator of every ratio.")
flags.DEFINE_string("budget_workdir", "runs/demo_budget", "Root of the runs' "
                    "workdirs (emptied first).")
flags.DEFINE_list("budget_flags", [], "Extra csam_tf.train flags for every "
                  "config (tests: a tiny --train_subset).")
flags.DEFINE_string("bench_markdown", "BENCHMARKS.md", "File whose "
                    "demo-budget section is regenerated ('' = print only).")

FLAGS = flags.FLAGS


def run_outcome(workdir: str) -> Dict[str, object]:
  """What the run made (report.json): accuracies, PCA, stage wall times."""
  report = atomic_io.read_json(os.path.join(workdir, workdir_lib.REPORT)) or {}
  stages, run_flags = report.get("stages", {}), report.get("flags", {})
  eps = run_flags.get("cert_eps", 1e-3)
  certified = stages.get("certify", {})
  pca = {name: certified.get(certify_resume.certificate_key(
      name, "composite", "L2"), {}).get(f"pca@{eps:g}")
         for name in ("dense", "pruned")}
  return {
      "dense_test_accuracy": stages.get("pretrain", {}).get("test_accuracy"),
      "pruned_test_accuracy": stages.get("finetune", {}).get("test_accuracy"),
      "sparsity": stages.get("finetune", {}).get("sparsity"),
      "pca_dense": pca["dense"], "pca_pruned": pca["pruned"],
      "stage_seconds": {s: stages.get(s, {}).get("wall_seconds")
                        for s in STAGES},
      "width": run_flags.get("width_multiplier"),
      "pretrain_epochs": run_flags.get("pretrain_epochs"),
      "mask_steps": run_flags.get("mask_steps_per_epoch"),
      "finetune_epochs": run_flags.get("finetune_epochs"),
      "finetune_steps": run_flags.get("finetune_steps_per_epoch"),
      "cert_images": run_flags.get("cert_num_images")}


def measure(configs: Sequence[str], root: str,
            extra_flags: Sequence[str]) -> List[Dict[str, object]]:
  """Each config run to the end in a fresh workdir under `root`."""
  results = []
  for config in configs:
    name = os.path.splitext(os.path.basename(config))[0]
    workdir = os.path.join(root, name)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    print(f"{PROG}: running {config} in {workdir} ...", flush=True)
    usage = run_measured(
        [sys.executable, "-m", "csam_tf.train", f"--flagfile={config}",
         f"--workdir={workdir}", *extra_flags],
        os.path.join(root, f"{name}.log"))
    print(f"{PROG}: {config}: exit {usage['exit_code']}, "
          f"{usage['cpu_seconds']:.0f} CPU s, {usage['wall_seconds']:.0f} s "
          f"wall", flush=True)
    results.append({"config": config, **usage, **run_outcome(workdir)})
  return results


def section(results: Sequence[Dict[str, object]], command: str,
            cpu: str) -> str:
  """BENCHMARKS.md section: one row per config, then the ratios."""
  lines = [
      f"Measured by `{command}` on {cpu} (CPU; configs run one after the "
      "other in one invocation; compute = the run's CPU seconds, user + "
      "system; wall time depends on what else the machine runs).", "",
      "| config | budget | dense test acc | pruned test acc (sparsity) | "
      "PCA@1e-3 dense / pruned | stage wall s (pretrain, mask, finetune, "
      "export, certify) | CPU s | wall s | peak RSS | exit |",
      "|---|---|---|---|---|---|---|---|---|---|"]
  for r in results:
    seconds = ", ".join("-" if r["stage_seconds"][s] is None else
                        f"{r['stage_seconds'][s]:.0f}" for s in STAGES)
    finetune = (f"{r['finetune_epochs']} fine-tune epoch(s)" +
                (f" of {r['finetune_steps']} steps" if r.get("finetune_steps")
                 else ""))
    lines.append(
        f"| `{r['config']}` | resnet18 x{r['width']}, {r['pretrain_epochs']} "
        f"pretrain epochs, {r['mask_steps']} search steps, {finetune}, "
        f"{r['cert_images']} "
        f"certified images | {percent(r['dense_test_accuracy'])} | "
        f"{percent(r['pruned_test_accuracy'])} ({percent(r['sparsity'])}) | "
        f"{percent(r['pca_dense'])} / {percent(r['pca_pruned'])} | {seconds} | "
        f"{r['cpu_seconds']:.0f} | {r['wall_seconds']:.0f} | "
        f"{r['peak_rss_gb']:.2f} GB | {r['exit_code']} |")
  first = results[0]
  for other in results[1:]:
    lines.append("")
    lines.append(
        f"`{other['config']}` / `{first['config']}`: "
        f"**{other['cpu_seconds'] / first['cpu_seconds']:.1f}x** the CPU "
        f"seconds, {other['wall_seconds'] / first['wall_seconds']:.1f}x the "
        f"wall time.")
  return "\n".join(lines) + "\n"


def check_inputs():
  missing = [c for c in FLAGS.budget_configs if not os.path.exists(c)]
  if missing:
    raise UsageError(f"--budget_configs: no such flagfile {missing[0]}")
  if not FLAGS.budget_configs:
    raise UsageError("--budget_configs is empty: name at least one flagfile")


def main(argv):
  del argv
  cli.checked_start(PROG, check_inputs, tensorflow=False)
  results = measure(FLAGS.budget_configs, FLAGS.budget_workdir,
                    FLAGS.budget_flags)
  command = " ".join([f"python -m {PROG}"] + sys.argv[1:])
  text = section(results, command, machine.machine_label())
  print(text)
  if FLAGS.bench_markdown:
    markdown_sections.update_section(FLAGS.bench_markdown, PROG, text)
  if any(r["exit_code"] for r in results):
    sys.exit(1)
