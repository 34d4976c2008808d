"""What machine a timing was measured on: CPU model, cores, vector width
(AVX-512 or not) and its FP32 peak, read from /proc/cpuinfo. Pure Python:
every section that reports a time names the machine beside it."""

import collections
import os
from typing import Dict


def cpu_description(cpuinfo: str) -> dict:
  """Model name, clock (None when cpuinfo gives none, as on many ARM and
  some virtual machines) and FP32 FMA lanes per vector (16 with avx512f,
  8 with avx2 and fma, None when the flags say neither)."""
  name, mhz, flags_line = None, None, ""
  for line in cpuinfo.splitlines():
    key, _, value = line.partition(":")
    key = key.strip()
    if key == "model name" and name is None:
      name = value.strip()
    elif key == "cpu MHz" and mhz is None:
      try:
        mhz = float(value) or None
      except ValueError:
        pass
    elif key in ("flags", "Features") and not flags_line:
      flags_line = value
  flags = set(flags_line.split())
  vector, lanes = "unknown vector width", None
  if "avx512f" in flags:
    vector, lanes = "AVX-512", 16
  elif {"avx2", "fma"} <= flags:
    vector, lanes = "AVX2, no AVX-512", 8
  return {"name": name or "unknown CPU", "mhz": mhz, "vector": vector,
          "lanes": lanes, "cores": os.cpu_count()}


def machine_label(cpuinfo_path: str = "/proc/cpuinfo") -> str:
  """'AMD EPYC, 2 cores, AVX-512': what every timing names beside it."""
  cpu = cpu_description(_read(cpuinfo_path))
  return f"{cpu['name']}, {cpu['cores']} cores, {cpu['vector']}"


def cpu_peak(cpuinfo_path: str = "/proc/cpuinfo"):
  """(GFLOP/s or None when unknown, how it was computed) of FP32 FMA on
  this machine's cores."""
  cpu = cpu_description(_read(cpuinfo_path))
  if cpu["mhz"] is None or cpu["lanes"] is None:
    missing = "no clock in cpuinfo" if cpu["mhz"] is None else (
        "neither avx512f nor avx2+fma among the CPU flags")
    return None, f"unknown ({missing}); {cpu['name']}"
  per_cycle = 2 * cpu["lanes"] * 2  # two FMA pipes x lanes x (mul + add)
  peak = cpu["cores"] * cpu["mhz"] / 1000.0 * per_cycle
  return peak, (f"{cpu['cores']} cores x {cpu['mhz'] / 1000:.2f} GHz "
                f"(cpuinfo) x {per_cycle} FLOP/cycle (2 FMA pipes x "
                f"{cpu['lanes']} FP32 lanes x 2, {cpu['vector']}) = "
                f"{peak:.0f} GFLOP/s; {cpu['name']}")


def _read(path):
  try:
    with open(path) as f:
      return f.read()
  except OSError:
    return ""


def machine_of(row) -> str:
  """The row's machine label; rows of runs made before the runner recorded
  it (or CSVs without the column, v1's) say so."""
  return row.get("machine") or "machine not recorded"


def machine_keys(rows) -> Dict[str, str]:
  """{machine label: 'A', ...} when the rows' runs were made on several
  machines (a suite restored from records may span several, and their
  timings are not comparable); {} when on one."""
  labels = sorted({machine_of(r) for r in rows})
  if len(labels) < 2:
    return {}
  return {label: chr(ord("A") + i) if i < 26 else str(i)
          for i, label in enumerate(labels)}


def machine_counts(rows) -> str:
  """'AMD EPYC, 2 cores, AVX2, no AVX-512 (20 runs)', or with several
  machines 'machine A: AMD EPYC, 2 cores, AVX-512 (3 runs); machine B:
  ...' (the keys the wall-time cells name)."""
  counts = collections.Counter(machine_of(r) for r in rows)
  keys = machine_keys(rows)
  return "; ".join(
      f"{'machine ' + keys[label] + ': ' if keys else ''}{label} "
      f"({n} run{'s' if n != 1 else ''})"
      for label, n in sorted(counts.items()))
