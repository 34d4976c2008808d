"""examples/bring_your_own_model.py at tiny size: a tf_keras.applications
MobileNetV2 trained, searched, fine-tuned with the user's fit, certified
and exported through the Python API."""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.heavy(55)
def test_bring_your_own_model_runs_end_to_end(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  result = subprocess.run(
      [sys.executable, "examples/bring_your_own_model.py",
       f"--out_dir={tmp_path}", "--train_images=128", "--test_images=64",
       "--epochs=1", "--search_steps=2", "--sparsity=0.6", "--cert_images=2",
       "--cert_nsamples=10"], cwd=REPO, env=env, capture_output=True,
      text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  line = result.stdout.strip().splitlines()[-1]
  found = re.search(r"sparsity of the masked layers ([0-9.]+), PCA@1e-3 "
                    r"([0-9.]+) over 2 test images, (\S+) (\d+) bytes", line)
  assert found, line
  assert abs(float(found[1]) - 0.6) < 1e-3
  assert 0.0 <= float(found[2]) <= 1.0
  assert found[3] == str(tmp_path / "model.tflite")
  assert os.path.getsize(found[3]) == int(found[4]) > 10_000
