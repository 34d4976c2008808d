"""`python -m csam_tf.experiments --suite=main|main_v2|ablation
--flagfile=configs/bench_fashion_mnist.cfg --workdir=runs/bench`:
every run of a benchmark suite, then results.csv and the BENCHMARKS.md
tables.

Each run is a `csam_tf.train` process (then one `csam_tf.certify` for its
extra certificates) on its own workdir <workdir>/<method>/sp<NN>/seed<s>,
from a flagfile written there (the flagfile's settings plus the method's
flags), so a run can be repeated by hand. A finished run is skipped; an
interrupted one resumes from its checkpoints. A run that fails is reported
and the others go on; the command exits 1 if any failed.
"""

import os
import sys
import time

from absl import flags

from csam_tf.core import atomic_io, cli, markdown_sections
from csam_tf.core import workdir as workdir_lib
from csam_tf.core.errors import UsageError
from csam_tf.certify import flags as certify_flags
from csam_tf.data import flags as data_flags
from csam_tf.data.config import check_data_available
from csam_tf.experiments import rows as experiment_rows
from csam_tf.experiments import runner as experiment_runner
from csam_tf.experiments import section as experiment_section
from csam_tf.experiments import suites as experiment_suites
from csam_tf.experiments import tables as experiment_tables
from csam_tf.pipeline import pipeline_flags  # noqa: F401 (the flagfile's)

PROG = "csam_tf.experiments"

flags.DEFINE_enum("suite", None, experiment_suites.SUITES, "Which suite: "
                  "main (methods x sparsities x seeds), ablation (C-SAM "
                  "variants at 90%), structured (channel pruning at 50%) or "
                  "search (the validation sweep that chooses the search's "
                  "defaults; use its own --workdir).")
flags.DEFINE_list("methods", [], "Only these methods (ablation suite: "
                  "variants); the dense runs they start from come along.")
flags.DEFINE_list("sparsities", [], "Only these target sparsities.")
flags.DEFINE_list("seeds", [], "Only these seeds.")
flags.DEFINE_boolean("dry_run", False, "Print the plan and exit.")
flags.DEFINE_boolean("tables_only", False, "Run nothing: regenerate "
                     "results.csv and the tables from the runs on disk.")
flags.DEFINE_string("benchmarks_md", "BENCHMARKS.md", "Markdown file whose "
                    "section for the suite is regenerated ('' = none).")
flags.DEFINE_string("readme_md", "", "--suite=main: Markdown file whose "
                    "headline table (the shipped pipeline against tfmot as "
                    "users run it) is regenerated ('' = none).")
flags.DEFINE_string("figures_dir", "docs", "Where the suite's plots go.")
flags.DEFINE_string("records_dir", "", "Where each finished run's record "
                    "(results, certificates, a dense run's model) is saved "
                    "and restored from, <records_dir>/<run>: commit it, and "
                    "a suite outlives its workdir's machine ('' = none).")

FLAGS = flags.FLAGS
# Flags of this program (not passed on to csam_tf.train).
_OWN_FLAGS = ("suite", "methods", "sparsities", "seeds", "dry_run",
              "tables_only", "benchmarks_md", "figures_dir", "records_dir",
              "log_tf", "readme_md")


def selected_runs():
  """The plan: the suite's runs after the --methods/--sparsities/--seeds
  selection, checked before anything runs."""
  keys = experiment_suites.selection_keys(FLAGS.suite)
  unknown = [m for m in FLAGS.methods if m not in keys]
  if unknown:
    raise UsageError(f"--methods={','.join(unknown)}: the {FLAGS.suite} "
                     f"suite has {', '.join(keys)}")
  try:
    sparsities = [float(s) for s in FLAGS.sparsities]
    seeds = [int(s) for s in FLAGS.seeds]
  except ValueError as e:
    raise UsageError(f"--sparsities takes numbers and --seeds integers "
                     f"({e})") from None
  runs = experiment_suites.suite_runs(FLAGS.suite, FLAGS.methods, sparsities,
                                      seeds)
  if not runs:
    raise UsageError("the selection leaves no run: check --methods, "
                     "--sparsities and --seeds against --dry_run's plan")
  return runs


def check_inputs():
  """Everything that can be checked without TensorFlow."""
  if not FLAGS.suite:
    raise UsageError("--suite is required: main, ablation, structured, "
                     "search or vit")
  if (FLAGS.suite == "vit") != (FLAGS.arch == "vit"):
    raise UsageError("--suite=vit runs the ViT and only the ViT: use it with "
                     "--arch=vit (configs/bench_vit.cfg), other suites with "
                     "a CNN")
  if not FLAGS.workdir:
    raise UsageError("--workdir is required: the folder that holds one "
                     "workdir per run")
  for name in ("stages", "sparsity", "seed"):
    if FLAGS[name].present:
      raise UsageError(f"--{name} is set per run by the suite; drop it from "
                       f"the command line and the flagfile")
  workdir_lib.check_writable(FLAGS.workdir)
  if FLAGS.records_dir:
    workdir_lib.check_writable(FLAGS.records_dir, flag="records_dir")
  check_data_available(data_flags.data_config())
  return selected_runs()


def write_results(root, runs):
  """results.csv over every finished run under `root`, and the suite's
  section of --benchmarks_md (with its plot)."""
  names = sorted({os.path.relpath(os.path.dirname(p), root)
                  for p in _experiment_files(root)})
  rows = experiment_rows.collect_rows(root, names)
  experiment_rows.write_csv(os.path.join(root, "results.csv"), rows)
  suite_rows = experiment_rows.collect_rows(root, [r.name for r in runs])
  section = experiment_section.suite_section(suite_rows, len(runs),
                                             section_settings())
  atomic_io.write_atomically(
      os.path.join(root, f"{FLAGS.suite}.md"),
      lambda tmp: open(tmp, "w").write(section), suffix=".md")
  if FLAGS.benchmarks_md:
    markdown_sections.update_section(
        FLAGS.benchmarks_md, f"experiments --suite={FLAGS.suite}", section)
  if FLAGS.readme_md and FLAGS.suite == "main":
    markdown_sections.update_section(
        FLAGS.readme_md, "experiments --suite=main headline",
        experiment_tables.readme_headline(
            suite_rows, experiment_suites.HEADLINE_SPARSITIES))
  print(section, flush=True)
  return rows


def _experiment_files(root):
  for directory, _, files in os.walk(root):
    if experiment_rows.EXPERIMENT_FILE in files:
      yield os.path.join(directory, experiment_rows.EXPERIMENT_FILE)


def suite_runner() -> experiment_runner.SuiteRunner:
  """The runner of --suite under --workdir, with the flagfile's settings."""
  base = {k: v for k, v in pipeline_flags.run_flags().items()
          if k not in _OWN_FLAGS}
  return experiment_runner.SuiteRunner(
      FLAGS.suite, FLAGS.workdir, base, certify_flags.certify_config(0),
      FLAGS.records_dir)


def section_settings() -> experiment_section.SectionSettings:
  return experiment_section.SectionSettings(
      suite=FLAGS.suite,
      command=" ".join(["python -m csam_tf.experiments", *sys.argv[1:]]),
      dataset=FLAGS.dataset, arch=FLAGS.arch,
      width_multiplier=FLAGS.width_multiplier,
      finetune_epochs=FLAGS.finetune_epochs,
      certificate=certify_flags.certify_config(0), root=FLAGS.workdir,
      figures_dir=FLAGS.figures_dir)


def main(argv):
  del argv
  runs = cli.checked_start(PROG, check_inputs, tensorflow=False)
  root = FLAGS.workdir
  for index, run in enumerate(runs, 1):
    print(f"[{index}/{len(runs)}] {run.name}: {' '.join(run.train_flags())}"
          + (f" (dense model from {run.pretrain_from})"
             if run.pretrain_from else ""), flush=True)
  if FLAGS.dry_run:
    return
  runner = suite_runner()
  runner.sync_records(runs)
  failed = []
  for index, run in enumerate([] if FLAGS.tables_only else runs, 1):
    run_dir = runner.run_dir(run)
    if runner.is_finished(run):
      print(f"[{index}/{len(runs)}] {run.name}: finished earlier", flush=True)
      continue
    if run.pretrain_from in failed:
      failed.append(run.name)
      print(f"[{index}/{len(runs)}] {run.name}: skipped, "
            f"{run.pretrain_from} failed", flush=True)
      continue
    start = time.time()
    code = runner.execute(run)
    took = (time.time() - start) / 60
    if code == 2:
      cli.fail(PROG, UsageError(f"{run.name} rejected its flags: "
                                f"{runner.last_error_line(run)}"))
    if code:
      failed.append(run.name)
      print(f"[{index}/{len(runs)}] {run.name}: FAILED after {took:.1f} min "
            f"(CPU): {runner.last_error_line(run)} (log: "
            f"{os.path.join(run_dir, experiment_runner.LOG_FILE)})",
            flush=True)
    else:
      runner.save_record(run)
      print(f"[{index}/{len(runs)}] {run.name}: done in {took:.1f} min (CPU)",
            flush=True)
  write_results(root, runs)
  if failed:
    cli.fail(PROG, RuntimeError(f"{len(failed)} run(s) failed: "
                                f"{', '.join(failed)}"), exit_code=1)


if __name__ == "__main__":
  cli.run(main, PROG, resumes=True)
