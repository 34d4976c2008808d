"""Figure 4 from a results.csv: means over one machine's default csam and
magnitude runs, hand-computed."""

import pytest

from csam_tf.performance.pipeline_cost import pipeline_figures, pipeline_line


def test_figure_4_compares_minutes_on_one_machine(tmp_path):
  """Means over the default csam and magnitude runs of the machine with
  the most of them; a run on another machine, another variant or 70%
  is left out; CPU minutes only when every run recorded them."""
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
