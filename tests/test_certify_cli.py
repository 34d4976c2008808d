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
    ([], "--workdir is required"),
    (["--workdir=/nonexistent"], "holds no csam_tf.train run"),
    (["--workdir={w}", "--families=zoom"], "--families=zoom"),
    (["--workdir={w}", "--levels=L3"], "--levels=L3"),
    (["--workdir={w}", "--model=onnx"], "--model=onnx"),
    (["--workdir={w}", "--num_images=0"], "--num_images=0"),
    (["--workdir={w}", "--model=tflite"], "run csam_tf.train with "
     "--stages=export"),
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
