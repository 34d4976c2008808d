"""`python -m csam_tf.bench` on a tiny trained model: every figure is
measured and written into the Markdown section, early exit keeps PCA."""

import os
import subprocess
import sys

import pytest

from csam_tf import bench

from conftest import BENCH_TINY as TINY
from conftest import REPO


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


X86_AVX512 = """processor\t: 0
model name\t: AMD EPYC 9B14
cpu MHz\t\t: 2600.000
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw
"""
X86_AVX2_NO_CLOCK = """model name\t: Intel(R) Xeon(R) CPU
flags\t\t: fpu sse2 avx avx2 fma
"""
X86_AVX_ONLY = """model name\t: Old CPU
cpu MHz\t\t: 2000.0
flags\t\t: fpu sse2 avx
"""
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm
"""


@pytest.mark.parametrize("text,peak_per_core,vector", [
    (X86_AVX512, 2.6 * 64, "AVX-512"),
    (X86_AVX2_NO_CLOCK, None, "AVX2, no AVX-512"),
    (X86_AVX_ONLY, None, "unknown vector width"),
    (ARM, None, "unknown vector width"),
])
def test_cpu_peak_never_divides_by_zero_nor_guesses(tmp_path, text,
                                                    peak_per_core, vector):
  path = tmp_path / "cpuinfo"
  path.write_text(text)
  peak, how = bench.cpu_peak(str(path))
  if peak_per_core is None:
    assert peak is None and how.startswith("unknown")
  else:
    assert peak == pytest.approx(peak_per_core * os.cpu_count())
  assert bench.cpu_description(text)["vector"] == vector
  assert vector in bench.machine_label(str(path))
