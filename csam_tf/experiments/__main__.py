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
import shutil
import sys
import time

from absl import flags

from csam_tf import atomic_io, cli
from csam_tf.certify import resume as certify_resume
from csam_tf.experiments import records
from csam_tf.experiments import results as experiment_results
from csam_tf.experiments import suites as experiment_suites
from csam_tf import machine, report, train
from csam_tf import workdir as workdir_lib
from csam_tf.data import flags as data_flags
from csam_tf.data.config import check_data_available
from csam_tf.errors import UsageError
from csam_tf.performance import child_usage

PROG = "csam_tf.experiments"
RUN_FLAGFILE = "run.cfg"
LOG_FILE = "run.log"

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
flags.DEFINE_string("figures_dir", "docs", "Where the suite's plots go.")
flags.DEFINE_string("records_dir", "", "Where each finished run's record "
                    "(results, certificates, a dense run's model) is saved "
                    "and restored from, <records_dir>/<run>: commit it, and "
                    "a suite outlives its workdir's machine ('' = none).")

FLAGS = flags.FLAGS
# Flags of this program (not passed on to csam_tf.train).
_OWN_FLAGS = ("suite", "methods", "sparsities", "seeds", "dry_run",
              "tables_only", "benchmarks_md", "figures_dir", "records_dir",
              "log_tf")


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


def run_flagfile_text(run: experiment_suites.ExperimentRun,
                      run_dir: str) -> str:
  """The run's flagfile: the suite's settings with the method's flags."""
  values = {k: _flag_text(v) for k, v in train.run_flags().items()
            if k not in _OWN_FLAGS and v is not None}
  values["workdir"] = run_dir
  for flag in run.train_flags():
    key, value = flag[2:].split("=", 1)
    values[key] = value
  return "".join([f"# {PROG} --suite={FLAGS.suite}: {run.name}\n"] +
                 [f"--{k}={v}\n" for k, v in values.items()])


def _flag_text(value):
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, (list, tuple)):
    return ",".join(str(v) for v in value)
  return str(value)


def is_complete(run_dir: str, run: experiment_suites.ExperimentRun) -> bool:
  """All of the run's stages and extra certificates are in report.json."""
  stages = (atomic_io.read_json(os.path.join(run_dir, "report.json"), {})
            or {}).get("stages", {})
  if not all(stages.get(s, {}).get("complete") for s in run.stages):
    return False
  certified = stages.get("certify", {})
  return all(certify_resume.certificate_key(model, family, level, bound)
             in certified
             for model, families, level, bound in run.extra_certificates
             for family in families)


def share_pretrain(root: str, run: experiment_suites.ExperimentRun) -> None:
  """Copies the dense model of `run.pretrain_from` into the run's workdir
  and records where it came from in the run's report.json."""
  source, target = (os.path.join(root, run.pretrain_from),
                    os.path.join(root, run.name))
  for relative in experiment_suites.PRETRAIN_FILES:
    # (a dense run restored from its record has the weights file only)
    if (os.path.exists(os.path.join(source, relative)) and
        not os.path.exists(os.path.join(target, relative))):
      os.makedirs(os.path.dirname(os.path.join(target, relative)),
                  exist_ok=True)
      atomic_io.write_atomically(
          os.path.join(target, relative),
          lambda tmp, r=relative: shutil.copyfile(os.path.join(source, r),
                                                  tmp),
          suffix=os.path.splitext(relative)[1])
  if report.stage_metrics(target, "pretrain") is None:
    source_report = atomic_io.read_json(os.path.join(source, "report.json"))
    report.update_stage(target, "pretrain", {
        **source_report["stages"]["pretrain"],
        "shared_from": run.pretrain_from}, source_report["flags"])


def _commands(run, run_dir):
  """The processes that make the run: train, then one certify per model
  with extra certificates (all of them in that one process)."""
  python = [sys.executable, "-m"]
  commands = [python + ["csam_tf.train",
                        f"--flagfile={os.path.join(run_dir, RUN_FLAGFILE)}"]]
  certificates = {}
  for model, families, level, bound in run.extra_certificates:
    nbounds = FLAGS.cert_nbounds
    if bound == "binomial":  # enough samples to reach eps at delta
      nbounds = -(-experiment_suites.binomial_samples(
          FLAGS.cert_eps, FLAGS.cert_delta) // FLAGS.cert_nsamples)
    certificates.setdefault(model, []).append(
        f"--certificate={','.join(families)}/{level}/{bound}/{nbounds}")
  for model, flags_of_model in certificates.items():
    commands.append(python + [
        "csam_tf.certify", f"--workdir={run_dir}", f"--model={model}",
        *flags_of_model, f"--num_images={FLAGS.cert_num_images}",
        f"--nsamples={FLAGS.cert_nsamples}", f"--delta={FLAGS.cert_delta}",
        f"--eps={FLAGS.cert_eps}",
        f"--batch_size={FLAGS.cert_batch_size}", f"--seed={run.seed}",
        f"--split={run.cert_split(FLAGS.cert_split)}",
        f"--full_bounds={str(FLAGS.cert_full_bounds).lower()}"])
  return commands


def execute(root: str, run: experiment_suites.ExperimentRun) -> int:
  """Runs (or resumes) one run; returns the failing exit code or 0."""
  run_dir = os.path.join(root, run.name)
  spec_path = os.path.join(run_dir, experiment_results.EXPERIMENT_FILE)
  spec = atomic_io.read_json(spec_path) or {
      "method": run.method, "variant": run.variant,
      "sparsity": run.sparsity, "seed": run.seed,
      "pretrain_from": run.pretrain_from, "commands": []}
  if run.pretrain_from:
    share_pretrain(root, run)
  os.makedirs(run_dir, exist_ok=True)
  atomic_io.write_atomically(
      os.path.join(run_dir, RUN_FLAGFILE),
      lambda tmp: open(tmp, "w").write(run_flagfile_text(run, run_dir)),
      suffix=".cfg")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  for command in _commands(run, run_dir):
    start = time.time()
    with open(os.path.join(run_dir, LOG_FILE), "a") as log:
      log.write(f"$ {' '.join(command[1:])}\n")
      log.flush()
      code, cpu = child_usage.call_with_cpu_seconds(command, log, env)
    spec["commands"].append({"argv": command[2:], "exit_code": code,
                             "seconds": round(time.time() - start, 1),
                             "cpu_seconds": round(cpu, 1),
                             "machine": machine.machine_label()})
    atomic_io.write_json(spec_path, spec)
    if code:
      return code
  spec["complete"] = is_complete(run_dir, run)
  atomic_io.write_json(spec_path, spec)
  return 0 if spec["complete"] else 1


def is_finished(run_dir: str, run: experiment_suites.ExperimentRun) -> bool:
  """Every stage and certificate is in report.json and the runner saw the
  run through (experiment.json)."""
  return is_complete(run_dir, run) and records.seen_through(run_dir)


def sync_records(root: str, runs) -> None:
  """With --records_dir: saves the record of each finished run that has
  none, and restores each run the workdir has not finished from its
  record (so a new machine goes on where the records end)."""
  if not FLAGS.records_dir:
    return
  for run in runs:
    run_dir = os.path.join(root, run.name)
    record_dir = os.path.join(FLAGS.records_dir, run.name)
    if is_finished(run_dir, run):
      if not records.seen_through(record_dir):
        records.save(run_dir, record_dir, run.method)
    elif records.seen_through(record_dir):
      records.restore(record_dir, run_dir)
      print(f"{run.name}: restored from {record_dir}", flush=True)


def _last_error_line(run_dir):
  try:
    with open(os.path.join(run_dir, LOG_FILE)) as log:
      lines = [l.strip() for l in log if l.strip()]
  except OSError:
    return ""
  errors = [l for l in lines if "error" in l.lower()]
  return (errors or lines or [""])[-1]


def write_results(root, runs):
  """results.csv over every finished run under `root`, and the suite's
  section of --benchmarks_md (with its plot)."""
  names = sorted({os.path.relpath(os.path.dirname(p), root)
                  for p in _experiment_files(root)})
  rows = experiment_results.collect_rows(root, names)
  experiment_results.write_csv(os.path.join(root, "results.csv"), rows)
  suite_rows = experiment_results.collect_rows(root, [r.name for r in runs])
  section = suite_section(suite_rows, len(runs))
  atomic_io.write_atomically(
      os.path.join(root, f"{FLAGS.suite}.md"),
      lambda tmp: open(tmp, "w").write(section), suffix=".md")
  if FLAGS.benchmarks_md:
    experiment_results.update_section(
        FLAGS.benchmarks_md, f"experiments --suite={FLAGS.suite}", section)
  print(section, flush=True)
  return rows


def _experiment_files(root):
  for directory, _, files in os.walk(root):
    if experiment_results.EXPERIMENT_FILE in files:
      yield os.path.join(directory, experiment_results.EXPERIMENT_FILE)


def _cpu_sentence(rows) -> str:
  """The commands' own CPU time, for the runs that recorded it (wall
  times also count any time the suite was paused or shared the cores)."""
  measured = [float(r["cpu_seconds"]) for r in rows if r["cpu_seconds"] != ""]
  if not measured:
    return ""
  return (f" The commands' own CPU time (user + system; wall times also "
          f"count pauses and other work on the machine) sums to "
          f"{sum(measured) / 3600:.2f} h over the {len(measured)} of these "
          f"runs that recorded it.")


def _epochs_overrides_clause() -> str:
  """" (csam-full, ...: 4)" for the rows of the suite whose own flags set
  the fine-tuning epochs (empty when every row gets the flagfile's)."""
  overrides = experiment_suites.finetune_epochs_overrides(
      experiment_suites.suite_runs(FLAGS.suite))
  return "".join(f" ({', '.join(labels)}: {epochs})"
                 for epochs, labels in sorted(overrides.items()))


def suite_section(rows, planned: int) -> str:
  """The suite's BENCHMARKS.md section: command, date, machine, tables."""
  command = " ".join(["python -m csam_tf.experiments"] + [
      a for a in sys.argv[1:]])
  hours = experiment_results.suite_hours(rows)
  startup = experiment_results.startup_seconds(rows)
  commands = sum(int(r["commands"] or 0) for r in rows)
  machines = (experiment_results.machine_counts(rows) or
              machine.machine_label())
  lines = [f"## Suite `{FLAGS.suite}` ({FLAGS.dataset}, {FLAGS.arch} "
           f"x{FLAGS.width_multiplier:g})", "",
           f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}, "
           f"{machines}, no GPU; "
           f"{len(rows)} of {planned} planned runs finished. Certification: "
           f"CC-Cert, first "
           f"{FLAGS.cert_num_images} "
           f"{'validation' if FLAGS.suite in ('search', 'objective') else 'test'}"
           f" images, "
           f"nsamples "
           f"{FLAGS.cert_nsamples} x nbounds {FLAGS.cert_nbounds}, delta "
           f"{FLAGS.cert_delta:g}, eps {FLAGS.cert_eps:g}. Values are mean ± "
           f"sample sd over the seeds shown. Every pruning run starts from "
           f"the dense model of its seed (shared, trained once) and gets "
           f"{FLAGS.finetune_epochs} fine-tuning epochs"
           f"{_epochs_overrides_clause()}. Per-run numbers: "
           f"`{os.path.join(FLAGS.workdir, 'results.csv')}`. Compute: the "
           f"stage wall times these runs recorded sum to {hours:.2f} h on "
           f"the CPU (shared pre-training counted once), plus process "
           f"start-up ({startup:.1f} s per command, median) x {commands} "
           f"commands = {hours + startup * commands / 3600:.2f} h."
           f"{_cpu_sentence(rows)}", ""]
  if FLAGS.suite == "main":
    lines.append(experiment_results.v3_tables(
        rows, tuple(experiment_suites.V3_ROWS),
        experiment_suites.V3_SPARSITIES))
    lines.append(experiment_results.comparison_table(
        rows, experiment_suites.V3_HEADLINE_PAIRS,
        experiment_suites.V3_SPARSITIES,
        "The robust pipelines against tfmot as users run it, seed by seed"))
    lines.append(experiment_results.comparison_table(
        rows, experiment_suites.V3_MASK_PAIRS,
        experiment_suites.V3_SPARSITIES,
        "C-SAM's masks against magnitude masks under the same robust "
        "fine-tuning, seed by seed"))
  elif FLAGS.suite == "main_v2":
    methods = ("dense", *experiment_suites.HEADLINE_METHODS,
               *experiment_suites.OTHER_METHODS,
               *experiment_suites.MAIN_VARIANTS)
    lines.append(experiment_results.main_tables(
        rows, methods, experiment_suites.MAIN_SPARSITIES))
    lines.append(experiment_results.paired_table(
        rows, experiment_suites.HEADLINE_PAIRS,
        experiment_suites.MAIN_SPARSITIES, FLAGS.workdir))
    lines.append(experiment_results.family_table(
        rows, ("dense", *experiment_suites.EXTRA_CERTIFIED_METHODS),
        experiment_suites.EXTRA_CERTIFIED_SPARSITY))
    plot = os.path.join(FLAGS.figures_dir, "pca_vs_sparsity.png")
    os.makedirs(FLAGS.figures_dir, exist_ok=True)
    if experiment_results.plot_pca_vs_sparsity(
        rows, experiment_suites.HEADLINE_METHODS,
        experiment_suites.MAIN_SPARSITIES, plot):
      lines += [f"![PCA and accuracy against sparsity]({plot})", ""]
  elif FLAGS.suite == "search":
    for sparsity in experiment_suites.SEARCH_SPARSITIES:
      lines.append(experiment_results.search_table(
          rows, experiment_suites.SEARCH_BASELINES,
          experiment_suites.SEARCH_VARIANTS, sparsity))
  elif FLAGS.suite == "objective":
    lines.append(experiment_results.objective_table(
        rows, experiment_suites.OBJECTIVE_VARIANTS,
        experiment_suites.OBJECTIVE_SPARSITY))
  elif FLAGS.suite == "vit":
    lines.append(experiment_results.vit_table(
        rows, ("dense", *experiment_suites.VIT_UNSTRUCTURED,
               *experiment_suites.VIT_STRUCTURED)))
  elif FLAGS.suite == "structured":
    lines.append(experiment_results.structured_table(
        rows, ("dense", *experiment_suites.STRUCTURED_METHODS),
        experiment_suites.STRUCTURED_SPARSITY))
  else:
    lines.append(experiment_results.ablation_table(
        rows, experiment_suites.ABLATIONS,
        experiment_suites.ABLATION_SPARSITY))
  return "\n".join(lines)


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
  sync_records(root, runs)
  failed = []
  for index, run in enumerate([] if FLAGS.tables_only else runs, 1):
    run_dir = os.path.join(root, run.name)
    if is_finished(run_dir, run):
      print(f"[{index}/{len(runs)}] {run.name}: finished earlier", flush=True)
      continue
    if run.pretrain_from in failed:
      failed.append(run.name)
      print(f"[{index}/{len(runs)}] {run.name}: skipped, "
            f"{run.pretrain_from} failed", flush=True)
      continue
    start = time.time()
    code = execute(root, run)
    took = (time.time() - start) / 60
    if code == 2:
      cli.fail(PROG, UsageError(f"{run.name} rejected its flags: "
                                f"{_last_error_line(run_dir)}"))
    if code:
      failed.append(run.name)
      print(f"[{index}/{len(runs)}] {run.name}: FAILED after {took:.1f} min "
            f"(CPU): {_last_error_line(run_dir)} (log: "
            f"{os.path.join(run_dir, LOG_FILE)})", flush=True)
    else:
      if FLAGS.records_dir:
        records.save(run_dir, os.path.join(FLAGS.records_dir, run.name),
                     run.method)
      print(f"[{index}/{len(runs)}] {run.name}: done in {took:.1f} min (CPU)",
            flush=True)
  write_results(root, runs)
  if failed:
    cli.fail(PROG, RuntimeError(f"{len(failed)} run(s) failed: "
                                f"{', '.join(failed)}"), exit_code=1)


if __name__ == "__main__":
  cli.run(main, PROG, resumes=True)
