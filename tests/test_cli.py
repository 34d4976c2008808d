"""csam_tf/cli.py: what the command-line programs share. Here: stdout that
outlives its reader (flag errors are each program's own tests)."""

import json
import os
import subprocess
import sys

from conftest import REPO
from csam_tf import cli


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
