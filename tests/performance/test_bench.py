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


def test_figure_4_compares_minutes_on_one_machine(tmp_path):
  """Means over the default csam and magnitude runs of the machine with
  the most of them; a run on another machine, another variant or 70%
  is left out; CPU minutes only when every run recorded them."""
  from csam_tf.performance.bench import pipeline_figures, pipeline_line
  fields = ["method", "variant", "target_sparsity", "wall_seconds",
            "cpu_seconds", "machine", "test_accuracy", "pca_composite_L2"]
  a, b = "AMD EPYC, 2 cores, AVX-512", "AMD EPYC, 2 cores, AVX2"
  rows = [
      ("csam", "default", 0.5, 600, 900, a, 0.92, 0.44),
      ("csam", "default", 0.5, 480, 700, a, 0.93, 0.46),
      ("magnitude", "default", 0.5, 300, 400, a, 0.92, 0.43),
      ("magnitude", "default", 0.5, 6000, 8000, b, 0.10, 0.01),  # other machine
      ("csam", "global", 0.5, 60, 60, a, 0.10, 0.01),            # other variant
      ("csam", "default", 0.7, 60, 60, a, 0.10, 0.01),           # not figure 4
      ("csam", "default", 0.9, 720, "", a, 0.90, 0.22),          # no CPU time
      ("magnitude", "default", 0.9, 360, 500, a, 0.89, 0.23),
  ]
  path = tmp_path / "results.csv"
  with open(path, "w") as f:
    f.write(",".join(fields) + "\n")
    f.writelines(",".join(f'"{v}"' for v in row) + "\n" for row in rows)
  figures = pipeline_figures(str(path))
  assert sorted(figures) == [("csam", "0.5"), ("csam", "0.9"),
                             ("magnitude", "0.5"), ("magnitude", "0.9")]
  csam = figures[("csam", "0.5")]
  assert csam["runs"] == 2 and csam["machine"] == a
  assert csam["wall_minutes"] == pytest.approx(9.0)     # (600 + 480) / 2 / 60
  assert csam["cpu_minutes"] == pytest.approx(800 / 60)
  assert csam["test_accuracy"] == pytest.approx(0.925)
  assert csam["pca"] == pytest.approx(0.45)
  assert figures[("magnitude", "0.5")]["runs"] == 1
  assert figures[("csam", "0.9")]["cpu_minutes"] is None
  line = pipeline_line("0.5", csam, figures[("magnitude", "0.5")])
  assert "wall 9.0 / 5.0 min = **1.80x**" in line
  assert "CPU 13.3 / 6.7 min = **2.00x**" in line
  assert "2 and 1 runs, AMD EPYC, 2 cores, AVX-512" in line
  assert "; CPU" not in pipeline_line("0.9", figures[("csam", "0.9")],
                                      figures[("magnitude", "0.9")])
  assert pipeline_figures(str(tmp_path / "missing.csv")) is None
