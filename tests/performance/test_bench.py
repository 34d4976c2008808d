"""`python -m csam_tf.bench` on a tiny trained model: every figure is
measured and written into the Markdown section, early exit keeps PCA."""

import pytest

from conftest import BENCH_TINY as TINY
from conftest import run_module

# One test process trains conftest's tiny dense workdir for the bench's
# and the profiler's tests (`make test`: pytest-xdist --dist loadgroup).
pytestmark = [pytest.mark.xdist_group("tiny_dense"),
              pytest.mark.heavy(55)]


def test_bench_writes_every_figure(tmp_path, tiny_dense_workdir):
  workdir = tiny_dense_workdir
  markdown = tmp_path / "BENCH.md"
  markdown.write_text("# Benchmarks\n")
  result = run_module(
      "csam_tf.bench", f"--model_workdir={workdir}", "--repeats=3",
      "--nobench_xla", "--bench_cert_images=8", "--cert_nsamples=10",
      "--cert_nbounds=2", f"--results={tmp_path / 'none.csv'}",
      f"--bench_markdown={markdown}", *TINY, timeout=900,
      fresh_interpreter=True)  # a command's own imports, as users start it
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
  result = run_module("csam_tf.bench", f"--model_workdir={tmp_path}",
                      timeout=120)
  assert result.returncode == 2
  assert "has no pretrain/best.weights.h5" in result.stderr
