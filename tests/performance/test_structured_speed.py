"""The channel-speed benchmark measures a real narrow model against its
dense parent (figures checked for consistency, not for speed)."""

import pytest

from csam_tf.performance import structured_latency as speed


def test_measure_one_width():
  result = speed.measure("resnet18", 0.0625, (16, 16, 1), 0.5, [1], 10, 1)
  assert result["parameters"]["pruned"] < result["parameters"]["dense"]
  assert result["flops"]["reduction"] == pytest.approx(
      result["flops"]["dense"] / result["flops"]["pruned"])
  assert result["flops"]["reduction"] > 2
  for variant in ("float32", "int8"):
    figures = result[f"{variant}_threads1"]
    assert figures["bytes_pruned"] < figures["bytes_dense"]
    assert figures["speedup"] == pytest.approx(
        figures["latency_ms_dense"] / figures["latency_ms_pruned"])
    assert figures["speedup_min"] <= figures["speedup"] <= \
        figures["speedup_max"]
  rows = speed.table([result]).splitlines()
  assert len(rows) == 2 + 2 and rows[2].startswith("| resnet18 x0.0625 | "
                                                   "float32 | 1 |")
