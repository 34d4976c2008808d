"""Runs a suite's runs: each one a `csam_tf.train` process on its own
workdir (run.cfg: the suite's flagfile with the run's flags), then one
`csam_tf.certify` per model with extra certificates; what each command
took (wall, CPU, machine) goes to experiment.json. A finished run is
skipped, an unfinished one resumed; with a records folder, finished runs
are saved there and restored from it on a new machine."""

import dataclasses
import os
import sys
import time
from typing import Dict, List, Sequence

from csam_tf.core import atomic_io, child_usage, machine, shared_pretrain
from csam_tf.core import workdir as workdir_lib
from csam_tf.certify import resume as certify_resume
from csam_tf.certify.config import CertifyConfig
from csam_tf.experiments import records
from csam_tf.experiments import rows as experiment_rows
from csam_tf.experiments import suites as experiment_suites

RUN_FLAGFILE = "run.cfg"
LOG_FILE = "run.log"


def flag_text(value) -> str:
  """A flag value as a flagfile spells it."""
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, (list, tuple)):
    return ",".join(str(v) for v in value)
  return str(value)


def is_complete(run_dir: str, run: experiment_suites.ExperimentRun) -> bool:
  """All of the run's stages and extra certificates are in report.json."""
  stages = (atomic_io.read_json(os.path.join(run_dir, workdir_lib.REPORT),
                                {}) or {}).get("stages", {})
  if not all(stages.get(s, {}).get("complete") for s in run.stages):
    return False
  certified = stages.get("certify", {})
  return all(certify_resume.certificate_key(model, family, level, bound)
             in certified
             for model, families, level, bound in run.extra_certificates
             for family in families)


@dataclasses.dataclass(frozen=True)
class SuiteRunner:
  """The runs of `suite` under `root`: `base_flags` are the suite
  flagfile's values (what every run.cfg starts from), `certificate` the
  settings every extra certificate uses (the flagfile's --cert_*)."""
  suite: str
  root: str
  base_flags: Dict[str, object]
  certificate: CertifyConfig
  records_dir: str = ""

  def run_dir(self, run: experiment_suites.ExperimentRun) -> str:
    return os.path.join(self.root, run.name)

  def flagfile_text(self, run: experiment_suites.ExperimentRun) -> str:
    """The run's flagfile: the suite's settings with the method's flags."""
    values = {k: flag_text(v) for k, v in self.base_flags.items()
              if v is not None}
    values["workdir"] = self.run_dir(run)
    for flag in run.train_flags():
      key, value = flag[2:].split("=", 1)
      values[key] = value
    return "".join(
        [f"# csam_tf.experiments --suite={self.suite}: {run.name}\n"] +
        [f"--{k}={v}\n" for k, v in values.items()])

  def share_pretrain(self, run: experiment_suites.ExperimentRun) -> None:
    """Copies the dense model of `run.pretrain_from` into the run's
    workdir and records where it came from in the run's report.json."""
    shared_pretrain.share(os.path.join(self.root, run.pretrain_from),
                          self.run_dir(run), experiment_suites.PRETRAIN_FILES,
                          run.pretrain_from)

  def commands(self, run: experiment_suites.ExperimentRun
               ) -> List[List[str]]:
    """The processes that make the run: train, then one certify per model
    with extra certificates (all of them in that one process)."""
    python = [sys.executable, "-m"]
    run_dir = self.run_dir(run)
    cert = self.certificate
    commands = [python + ["csam_tf.train", f"--flagfile="
                          f"{os.path.join(run_dir, RUN_FLAGFILE)}"]]
    certificates = {}
    for model, families, level, bound in run.extra_certificates:
      nbounds = cert.nbounds
      if bound == "binomial":  # enough samples to reach eps at delta
        nbounds = -(-experiment_suites.binomial_samples(
            cert.eps, cert.delta) // cert.nsamples)
      certificates.setdefault(model, []).append(
          f"--certificate={','.join(families)}/{level}/{bound}/{nbounds}")
    for model, flags_of_model in certificates.items():
      commands.append(python + [
          "csam_tf.certify", f"--workdir={run_dir}", f"--model={model}",
          *flags_of_model, f"--num_images={cert.num_images}",
          f"--nsamples={cert.nsamples}", f"--delta={cert.delta}",
          f"--eps={cert.eps}", f"--batch_size={cert.batch_size}",
          f"--seed={run.seed}", f"--split={run.cert_split(cert.split)}",
          f"--full_bounds={str(cert.full_bounds).lower()}"])
    return commands

  def execute(self, run: experiment_suites.ExperimentRun) -> int:
    """Runs (or resumes) one run; returns the failing exit code or 0."""
    run_dir = self.run_dir(run)
    spec_path = os.path.join(run_dir, experiment_rows.EXPERIMENT_FILE)
    spec = atomic_io.read_json(spec_path) or {
        "method": run.method, "variant": run.variant,
        "sparsity": run.sparsity, "seed": run.seed,
        "pretrain_from": run.pretrain_from, "commands": []}
    if run.pretrain_from:
      self.share_pretrain(run)
    os.makedirs(run_dir, exist_ok=True)
    text = self.flagfile_text(run)
    atomic_io.write_atomically(
        os.path.join(run_dir, RUN_FLAGFILE),
        lambda tmp: open(tmp, "w").write(text), suffix=".cfg")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for command in self.commands(run):
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

  def is_finished(self, run: experiment_suites.ExperimentRun) -> bool:
    """Every stage and certificate is in report.json and the runner saw
    the run through (experiment.json)."""
    run_dir = self.run_dir(run)
    return is_complete(run_dir, run) and records.seen_through(run_dir)

  def save_record(self, run: experiment_suites.ExperimentRun) -> None:
    if self.records_dir:
      records.save(self.run_dir(run), os.path.join(self.records_dir,
                                                   run.name), run.method)

  def sync_records(self, runs: Sequence[experiment_suites.ExperimentRun]
                   ) -> None:
    """With a records folder: saves the record of each finished run that
    has none, and restores each run the workdir has not finished from its
    record (so a new machine goes on where the records end)."""
    if not self.records_dir:
      return
    for run in runs:
      record_dir = os.path.join(self.records_dir, run.name)
      if self.is_finished(run):
        if not records.seen_through(record_dir):
          records.save(self.run_dir(run), record_dir, run.method)
      elif records.seen_through(record_dir):
        records.restore(record_dir, self.run_dir(run))
        print(f"{run.name}: restored from {record_dir}", flush=True)

  def last_error_line(self, run: experiment_suites.ExperimentRun) -> str:
    """The log's last line that names an error (else its last line)."""
    try:
      with open(os.path.join(self.run_dir(run), LOG_FILE)) as log:
        lines = [l.strip() for l in log if l.strip()]
    except OSError:
      return ""
    errors = [l for l in lines if "error" in l.lower()]
    return (errors or lines or [""])[-1]
