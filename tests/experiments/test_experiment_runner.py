"""What the suite runner asks of each run: its flagfile (the suite's
settings, then the run's own flags) and its commands (train, then one
certify per model with every extra certificate and enough binomial
samples); a run is complete when report.json has all it asked for."""

import os
import sys

from csam_tf.core import atomic_io
from csam_tf.certify.config import CertifyConfig
from csam_tf.experiments import runner as experiment_runner
from csam_tf.experiments import suites


def _runner(root):
  return experiment_runner.SuiteRunner(
      "main", str(root), {"dataset": "fashion_mnist", "augment_prob": 0.5,
                          "cert_families": ["composite"], "init_model": None,
                          "cert_full_bounds": True},
      CertifyConfig(num_images=200, nsamples=100, nbounds=10, delta=0.9,
                    eps=1e-3, batch_size=500, full_bounds=True),
      records_dir="")


def test_flagfile_is_the_suites_settings_then_the_runs_flags(tmp_path):
  run = suites.suite_runs("main", ["csam-full"], [0.9], [1])[1]
  text = _runner(tmp_path).flagfile_text(run)
  lines = text.splitlines()
  assert lines[0] == "# csam_tf.experiments --suite=main: csam-full/sp90/seed1"
  assert lines[1:6] == [
      "--dataset=fashion_mnist", "--augment_prob=0.5",
      "--cert_families=composite", "--cert_full_bounds=true",
      f"--workdir={tmp_path / 'csam-full/sp90/seed1'}"]
  assert "--seed=1" in lines and "--sparsity=0.9" in lines
  assert "--finetune_epochs=4" in lines and "--robust_lambda=10.0" in lines
  assert not any(line.startswith("--init_model") for line in lines)


def test_commands_certify_every_extra_certificate_in_one_process(tmp_path):
  run = suites.suite_runs("main", ["magnitude"], [0.95], [2])[1]
  train, certify = _runner(tmp_path).commands(run)
  run_dir = str(tmp_path / "magnitude/sp95/seed2")
  assert train == [sys.executable, "-m", "csam_tf.train",
                   f"--flagfile={run_dir}/run.cfg"]
  # binomial: 2,302 samples reach 1e-3 at delta 0.9, so 24 blocks of 100
  assert certify == [
      sys.executable, "-m", "csam_tf.certify", f"--workdir={run_dir}",
      "--model=pruned", "--certificate=composite/L2/binomial/24",
      "--num_images=200", "--nsamples=100", "--delta=0.9", "--eps=0.001",
      "--batch_size=500", "--seed=2", "--split=test", "--full_bounds=true"]


def test_complete_needs_every_stage_and_every_extra_certificate(tmp_path):
  run = suites.suite_runs("main", ["magnitude"], [0.95], [2])[1]
  run_dir = str(tmp_path / run.name)
  stages = {"finetune": {"complete": True}, "certify": {"complete": True}}
  atomic_io.write_json(os.path.join(run_dir, "report.json"),
                       {"stages": stages})
  assert not experiment_runner.is_complete(run_dir, run)
  stages["certify"]["pruned_composite_L2_binomial"] = {"pca@0.001": 0.3}
  atomic_io.write_json(os.path.join(run_dir, "report.json"),
                       {"stages": stages})
  assert experiment_runner.is_complete(run_dir, run)
  assert not _runner(tmp_path).is_finished(run)  # the runner never saw it
