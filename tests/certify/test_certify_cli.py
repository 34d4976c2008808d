"""`python -m csam_tf.certify`: bad input is one line and exit 2 before
TensorFlow loads (the end-to-end certification of a .tflite is in
test_train_cli, on a real run's workdir)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO


def _run(*args):
  return subprocess.run([sys.executable, "-m", "csam_tf.certify", *args],
                        cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args,message", [
    ([], "give --model=PATH"),
    (["--workdir=/nonexistent"], "holds no csam_tf.train run"),
    (["--workdir={w}", "--families=zoom"], "unknown transformation 'zoom'"),
    (["--workdir={w}", "--levels=L3"], "--levels=L3"),
    (["--workdir={w}", "--model=onnx"], "--model=onnx"),
    (["--workdir={w}", "--num_images=0"], "--num_images=0"),
    (["--workdir={w}", "--model=tflite"], "run csam_tf.train with "
     "--stages=export"),
    (["--workdir={w}", "--certificate=composite"], "--certificate: "
     "'composite' is not FAMILIES/LEVEL"),
    (["--workdir={w}", "--certificate=composite/L1",
      "--certificate=zoom/L2"], "--certificate=zoom/L2: unknown "
     "transformation 'zoom'"),
    (["--workdir={w}", "--certificate=composite/L3"],
     "--certificate=composite/L3: choose the level from L1, L2"),
    (["--workdir={w}", "--certificate=composite/L2", "--families=composite"],
     "--certificate and --families both name what to certify"),
])
def test_bad_input(tmp_path, args, message):
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "flags.json").write_text(json.dumps({"dataset": "fashion_mnist"}))
  before = sorted(os.listdir(workdir))
  result = _run(*[a.format(w=workdir) for a in args])
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("csam_tf.certify: error: ")
  assert message in lines[0]
  assert sorted(os.listdir(workdir)) == before


def _workdir_with_half_done_csv(tmp_path, run_seed):
  """A run whose pruned model was certified on 2 images with seed 0."""
  from csam_tf.certify import resume as certify_resume
  from csam_tf.transforms import ranges as transform_ranges
  from csam_tf.certify.config import CertifyConfig
  workdir = tmp_path / "run"
  (workdir / "finetune").mkdir(parents=True)
  (workdir / "finetune" / "model.keras").write_bytes(b"stand-in")
  (workdir / "flags.json").write_text(json.dumps(
      {"dataset": "fashion_mnist", "seed": run_seed}))
  csv = workdir / "certify" / "pruned_composite_L2.csv"
  csv.parent.mkdir()
  csv.write_text("index,label\n0,1\n1,2\n")
  settings = certify_resume.csv_settings(
      CertifyConfig(seed=0), "composite", "L2",
      transform_ranges.family_ranges("composite", "L2"), "abc")
  (workdir / "certify" / "pruned_composite_L2.csv.settings.json").write_text(
      json.dumps(settings))
  return workdir


@pytest.mark.parametrize("args,run_seed,message", [
    (["--nsamples=50"], 0, "certified with nsamples=100, not 50"),
    (["--delta=0.5"], 0, "certified with delta=0.9, not 0.5"),
    (["--eps=0.01"], 0, "certified with eps=0.001, not 0.01"),
    # the seed defaults to the run's (flags.json), not to 0
    ([], 3, "certified with seed=0, not 3"),
    # every --certificate is checked, each with its own blocks and bound
    (["--certificate=composite/L1", "--certificate=composite/L2/ccert/5"], 0,
     "certified with nbounds=10, not 5"),
])
def test_a_csv_of_other_settings_is_refused_before_tensorflow(
    tmp_path, args, run_seed, message):
  workdir = _workdir_with_half_done_csv(tmp_path, run_seed)
  before = _snapshot(workdir)
  result = _run(f"--workdir={workdir}", *args)
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0], result.stderr
  assert "--restart" in lines[0]
  assert _snapshot(workdir) == before


def _snapshot(folder):
  return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
