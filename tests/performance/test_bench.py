"""`python -m csam_tf.bench` on a tiny trained model: every figure is
measured and written into the Markdown section, early exit keeps PCA."""

import os
import subprocess
import sys

import pytest

from conftest import BENCH_TINY as TINY
from conftest import REPO

# One test process trains conftest's tiny dense workdir for the bench's
# and the profiler's tests (`make test`: pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("tiny_dense")


def test_bench_writes_every_figure(tmp_path, tiny_dense_workdir):
  workdir = tiny_dense_workdir
  markdown = tmp_path / "BENCH.md"
  markdown.write_text("# Benchmarks\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  result = subprocess.run(
      [sys.executable, "-m", "csam_tf.bench", f"--model_workdir={workdir}",
       "--repeats=3", "--nobench_xla", "--bench_cert_images=8", "--cert_nsamples=10",
       "--cert_nbounds=2", f"--results={tmp_path / 'none.csv'}",
       f"--bench_markdown={markdown}", *TINY], cwd=REPO, env=env,
      capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  text = markdown.read_text()
  assert text.startswith("# Benchmarks\n")
  assert "<!-- BEGIN csam_tf.bench -->" in text
  for figure in ("| 1 | mask-search step (graph) / (6 x CE step)",
                 "| 1 | mask-search step (XLA) | not run (`--nobench_xla`)",
                 "| 2 | certification passes/s / plain inference",
                 "| 2b | certified images/s", "| 3 | demo command",
                 "| 4 | C-SAM vs magnitude",
                 "| 5 | .tflite channel float32",
                 "| 5 | .tflite unstructured sparse",
                 "| 6 | GFLOP/s, inference"):
    assert figure in text, figure
  assert "identical at every eps" in text


def test_bench_needs_a_trained_model(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  result = subprocess.run(
      [sys.executable, "-m", "csam_tf.bench",
       f"--model_workdir={tmp_path}"], cwd=REPO, env=env,
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert "has no pretrain/best.weights.h5" in result.stderr



def _allocating(megabytes, exit_code=0):
  """A child that touches `megabytes` of memory, then exits."""
  return [sys.executable, "-c", f"b = bytearray({megabytes} << 20); "
          f"b[::4096] = b'x' * len(b[::4096]); raise SystemExit({exit_code})"]


def test_demo_figure_is_the_demo_process_own():
  """Figure 3's peak memory is the demo process's: not the largest child
  the bench ever waited for (getrusage(RUSAGE_CHILDREN) would say 300 MB
  here), nor the memory of this TensorFlow-holding process, which Linux
  charges a child it starts directly with (0.6 GB)."""
  from csam_tf.performance.bench import demo_figures
  subprocess.run(_allocating(300), check=True)  # an earlier, bigger child
  figures = demo_figures(_allocating(100, exit_code=3))
  assert figures["exit_code"] == 3
  assert 0.09 < figures["peak_rss_gb"] * 1024 / 1000 < 0.2
  assert figures["wall_seconds"] > 0
