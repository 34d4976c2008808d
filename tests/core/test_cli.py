"""csam_tf/core/cli.py: what the command-line programs share. Here: stdout that
outlives its reader and Ctrl-C as one line (flag errors are each program's
own tests)."""

import json
import os
import signal
import subprocess
import sys
import time

from conftest import REPO, TINY_RUN
from csam_tf.core import cli


def _closed_pipe():
  """The write end of a pipe whose reader is gone."""
  read, write = os.pipe()
  os.close(read)
  return write


def test_a_broken_pipe_sends_stdout_to_devnull():
  write = _closed_pipe()
  stream = os.fdopen(write, "w")
  out = cli.StdoutOutlivingItsReader(stream)
  out.write("x" * 100_000)  # more than the pipe and the buffer hold
  out.flush()
  assert os.readlink(f"/proc/self/fd/{write}") == "/dev/null"
  assert out.write("more\n") == 5
  out.flush()
  assert out.fileno() == write  # everything else is the stream's own
  stream.close()


def test_a_program_whose_reader_left_finishes_quietly(tmp_path):
  """`python -m csam_tf.summary ... | head -0`: exit 0, nothing on stderr
  (a BrokenPipeError traceback and exit 1 before)."""
  (tmp_path / "report.json").write_text(json.dumps({
      "flags": {"arch": "resnet10", "width_multiplier": 0.25,
                "dataset": "fashion_mnist", "seed": 0, "cert_eps": 0.001},
      "stages": {"pretrain": {"test_accuracy": 0.9}}}))
  write = _closed_pipe()
  try:
    result = subprocess.run(
        [sys.executable, "-m", "csam_tf.summary", f"--workdir={tmp_path}"],
        cwd=REPO, stdout=write, stderr=subprocess.PIPE, text=True,
        timeout=60)
  finally:
    os.close(write)
  assert (result.returncode, result.stderr) == (0, "")


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
  """Ctrl-C in the middle of training: one line saying the same command
  goes on, exit code 130, no KeyboardInterrupt traceback (60 lines from
  deep inside TensorFlow before)."""
  process = subprocess.Popen(
      [sys.executable, "-u", "-m", "csam_tf.train",
       f"--workdir={tmp_path / 'run'}", *TINY_RUN, "--pretrain_epochs=500",
       "--stages=pretrain"], cwd=REPO,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True,
      # as a terminal's Ctrl-C finds it (a test runner may ignore SIGINT)
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  try:
    for line in process.stdout:
      if line.startswith("Epoch 2/"):  # inside fit, the graphs built
        break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
  finally:
    process.kill()
  assert process.returncode == 130, stderr[-3000:]
  assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
  assert stderr.strip().splitlines()[-1] == (
      "csam_tf.train: interrupted (Ctrl-C); what finished is kept, and the "
      "same command goes on from there")


def test_the_api_loads_after_tfmot_was_imported_first():
  """A user script that imports tfmot before csam_tf's API loads (tfmot
  switches tf.keras to Keras 2) still gets keras_cv's transformations,
  and tfmot still wraps tf_keras layers."""
  code = ("import tensorflow_model_optimization as tfmot\n"
          "import numpy as np, tf_keras, csam_tf\n"
          "from csam_tf.transforms import semantic\n"
          "model = tf_keras.Sequential([tf_keras.Input((12, 12, 1)),\n"
          "    tf_keras.layers.Conv2D(4, 3), tf_keras.layers.Conv2D(4, 3),\n"
          "    tf_keras.layers.GlobalAveragePooling2D(),\n"
          "    tf_keras.layers.Dense(3)])\n"
          "masks = {model.layers[1].name: np.zeros((3, 3, 4, 4), 'float32')}\n"
          "pruned = csam_tf.prune_with_masks(model, masks)\n"
          "print(type(semantic.keras_cv.layers.RandomBrightness(0.1)).__name__,"
          " type(pruned.layers[1]).__name__)\n")
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == ["RandomBrightness", "PruneLowMagnitude"]
