"""Never lose work: a run killed with SIGKILL in the middle of the mask
search and again in certification (at named points, where the run kills
itself: the same place on every machine, no race with a poll) finishes,
when the same command runs again, with the uninterrupted run's masks,
certificates and report.json, bit for bit (its three processes ran every
stage again: the same flags give the same bits); a non-finite loss or
unreadable checkpoints stop with one line and exit 1."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TINY_NETWORK, run_cli

FLAGS = ["--train_subset=256", "--eval_subset=128", "--pretrain_epochs=1",
         *TINY_NETWORK, "--batch_size=64",
         "--stages=pretrain,mask,certify", "--mask_epochs=2",
         "--mask_steps_per_epoch=3", "--cert_models=dense",
         "--cert_num_images=32", "--cert_nsamples=100", "--cert_nbounds=10",
         # plumbing (conftest.CE_PLUMBING): the robust objective's views
         # add nothing to what a kill can lose
         "--pretrain_objective=ce"]
# (Fine-tuning's resume is test_train_cli's; certifying the dense model is
# enough to kill certification in the middle.)
_VOLATILE = ("wall_seconds", "seconds_this_invocation",
             "wall_seconds_this_invocation", "forward_passes_per_second",
             "plain_inference_per_second", "throughput_ratio", "updated",
             "images_per_second",
             "workdir",
             # how the run got there (a killed stage resumes), not what it
             # computed
             "resumed_after_epoch", "earlier_invocations")


def _stable(value):
  """report.json without timings and paths (what must be identical)."""
  if isinstance(value, dict):
    return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
  return value


def _report(workdir):
  with open(os.path.join(workdir, "report.json")) as f:
    return json.load(f)


def _masks(workdir):
  out = {}
  for name in ("soft_masks", "binary_masks"):
    with np.load(os.path.join(workdir, "mask", f"{name}.npz")) as data:
      out.update({f"{name}/{k}": data[k] for k in data.files})
  return out


def _killed_at(workdir, point):
  """Runs the command with CSAM_TF_SIGKILL_AT=point (the run SIGKILLs
  itself there: core.fault_injection); returns what it printed."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             CSAM_TF_SIGKILL_AT=point)
  os.makedirs(os.path.dirname(workdir), exist_ok=True)
  result = subprocess.run(
      [sys.executable, "-m", "csam_tf.train", f"--workdir={workdir}",
       *FLAGS], cwd=REPO, env=env, capture_output=True, text=True,
      timeout=600)
  assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
  return result.stdout


def _error_lines(stderr):
  """Our lines on stderr (TensorFlow's C++ start-up log lines aside)."""
  return [l for l in stderr.strip().splitlines()
          if l.startswith("csam_tf.train")]


def _stage_complete(workdir, stage):
  try:
    return _report(workdir)["stages"][stage].get("complete", False)
  except (OSError, KeyError, ValueError):
    return False


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("crash") / "uninterrupted")
  result = run_cli(f"--workdir={workdir}", *FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


@pytest.mark.heavy(55)
def test_sigkill_in_mask_search_and_certification(tmp_path, uninterrupted):
  workdir = str(tmp_path / "killed")
  # 1. killed once the first of two mask-search epochs is checkpointed
  _killed_at(workdir, "mask:epoch1")
  assert not _stage_complete(workdir, "mask")
  assert os.path.exists(os.path.join(workdir, "checkpoints", "mask",
                                     "ckpt-1.index"))
  # 2. the same command, killed once the dense model's first 8 images
  #    (one group) are written
  printed = _killed_at(workdir, "certify:dense_composite_L2.csv:8")
  # (it went on from the search's checkpoint, not from the start)
  assert "mask: resuming after epoch 1 from" in printed, printed
  assert _stage_complete(workdir, "mask")
  assert not _stage_complete(workdir, "certify")
  dense_csv = os.path.join(workdir, "certify", "dense_composite_L2.csv")
  with open(dense_csv) as f:
    assert len(f.readlines()) - 1 == 8   # header
  # 3. the same command finishes the run, certifying only what was left
  result = run_cli(f"--workdir={workdir}", *FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "mask: finished earlier" in result.stdout
  assert "dense_composite_L2.csv: 24/24 images" in result.stdout

  expected, got = _masks(uninterrupted), _masks(workdir)
  assert expected.keys() == got.keys()
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
  name = "certify/dense_composite_L2.csv"
  with open(os.path.join(uninterrupted, name)) as a, open(
      os.path.join(workdir, name)) as b:
    assert a.read() == b.read(), name
  assert _report(workdir)["stages"]["certify"]["dense_composite_L2"][
      "images"] == 32
  # every number of report.json (timings aside) is the uninterrupted run's
  assert _stable(_report(workdir)["stages"]) == _stable(
      _report(uninterrupted)["stages"])


def test_non_finite_loss_stops_with_one_line(tmp_path):
  workdir = str(tmp_path / "nan")
  result = run_cli(f"--workdir={workdir}", "--train_subset=256",
                   "--eval_subset=128", *TINY_NETWORK, "--batch_size=64",
                   "--stages=pretrain",
                   "--pretrain_epochs=2", "--pretrain_lr=1e30")
  assert result.returncode == 1
  lines = _error_lines(result.stderr)
  assert len(lines) == 1 and "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == lines[0]
  assert "pretrain: non-finite loss at step" in lines[0]
  assert "loss=nan" in lines[0]
  assert not _stage_complete(workdir, "pretrain")
  assert not os.path.exists(os.path.join(workdir, "checkpoints", "pretrain",
                                         "ckpt-1.index"))


@pytest.mark.heavy(25)
def test_unreadable_checkpoints(tmp_path):
  workdir = str(tmp_path / "run")
  flags = [f"--workdir={workdir}", "--train_subset=256", "--eval_subset=128",
           *TINY_NETWORK, "--batch_size=64", "--pretrain_objective=ce",
           "--stages=pretrain", "--pretrain_epochs=2"]
  assert run_cli(*flags).returncode == 0
  report_path = os.path.join(workdir, "report.json")
  with open(report_path) as f:
    report = json.load(f)
  del report["stages"]["pretrain"]  # as if killed before the stage ended
  with open(report_path, "w") as f:
    json.dump(report, f)
  folder = os.path.join(workdir, "checkpoints", "pretrain")

  def truncate(name):
    path = os.path.join(folder, name)
    with open(path, "rb") as f:
      data = f.read()
    with open(path, "wb") as f:
      f.write(data[:len(data) // 2])

  # the newest checkpoint truncated: resume from the one before
  truncate("ckpt-2.data-00000-of-00001")
  result = run_cli(*flags)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "cannot read checkpoint" in result.stdout
  assert "resuming after epoch 1" in result.stdout
  assert _stage_complete(workdir, "pretrain")

  # every checkpoint truncated: exit 1, one line, nothing changed
  with open(report_path, "w") as f:
    json.dump(report, f)
  for name in os.listdir(folder):
    if name.startswith("ckpt") and ".data-" in name:
      truncate(name)
  before = {n: open(os.path.join(folder, n), "rb").read()
            for n in os.listdir(folder)}
  result = run_cli(*flags)
  assert result.returncode == 1
  lines = _error_lines(result.stderr)
  assert len(lines) == 1 and "no readable checkpoint in" in lines[0]
  assert "Traceback" not in result.stderr
  assert "delete that folder" in lines[0]
  after = {n: open(os.path.join(folder, n), "rb").read()
           for n in os.listdir(folder)}
  assert before == after
