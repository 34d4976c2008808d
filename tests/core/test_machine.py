"""The machine a timing names: CPU model, vector width and FP32 peak from
/proc/cpuinfo, never a division by zero nor a guessed vector width."""

import os

import pytest

from csam_tf.core import machine


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
  peak, how = machine.cpu_peak(str(path))
  if peak_per_core is None:
    assert peak is None and how.startswith("unknown")
  else:
    assert peak == pytest.approx(peak_per_core * os.cpu_count())
  assert machine.cpu_description(text)["vector"] == vector
  assert vector in machine.machine_label(str(path))


def test_rows_from_several_machines_are_keyed_by_label():
  """A suite restored from records spans machines: each label gets a key
  (in label order) and a count; one machine needs no key."""
  fast, slow = "AMD EPYC, 2 cores, AVX-512", "AMD EPYC, 2 cores, AVX2"
  rows = [{"machine": slow}, {"machine": fast}, {"machine": fast}]
  assert machine.machine_keys(rows) == {fast: "A", slow: "B"}
  assert machine.machine_counts(rows) == (
      f"machine A: {fast} (2 runs); machine B: {slow} (1 run)")
  assert machine.machine_keys(rows[1:]) == {}
  assert machine.machine_counts(rows[1:]) == f"{fast} (2 runs)"
  assert machine.machine_of({"machine": ""}) == "machine not recorded"
  assert machine.machine_counts([{}]) == "machine not recorded (1 run)"
