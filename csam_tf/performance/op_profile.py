"""Where a TensorFlow step spends its time, from TensorFlow's own profiler.

`trace` runs a callable under `tf.profiler` (the trace stays in the log
directory for TensorBoard's profile tab) and `op_times` reads it back with
the converter TensorBoard uses (`framework_op_stats`), so a table of time
per part of a step needs no plugin. Parts are name scopes: an op belongs to
the first scope of `parts` that appears as a component of its name
(gradient ops carry the scope of the op they differentiate, under
`gradient_tape/`, and are counted apart as that part's backward).
The converter lists the largest ops only (about 500); the self-time of the
rest is kept as one `UNLISTED` entry so the totals stay whole.
"""

import collections
import dataclasses
import glob
import json
import os
from typing import Callable, Dict, List, Sequence

BACKWARD = "gradient_tape"
UNLISTED = "smaller ops (not listed by the profiler)"


@dataclasses.dataclass(frozen=True)
class OpTime:
  """One TensorFlow op of the trace: total self-time over all its runs."""
  op_type: str
  name: str
  occurrences: int
  self_us: float


def trace(call: Callable[[], object], steps: int, logdir: str) -> List[str]:
  """Runs `call` once untraced (tracing, warm-up), then `steps` times under
  the profiler; returns the .xplane.pb files of this trace."""
  import tensorflow as tf
  call()
  before = set(_xplanes(logdir))
  # Level 3 also records the inexpensive ops (level 2 drops them).
  tf.profiler.experimental.start(logdir, tf.profiler.experimental.ProfilerOptions(
      host_tracer_level=3, python_tracer_level=0, device_tracer_level=0))
  try:
    for _ in range(steps):
      call()
  finally:
    tf.profiler.experimental.stop()
  return sorted(set(_xplanes(logdir)) - before)


def _xplanes(logdir: str) -> List[str]:
  return glob.glob(os.path.join(logdir, "plugins", "profile", "*",
                                "*.xplane.pb"))


def op_times(paths: Sequence[str]) -> List[OpTime]:
  """Host ops of the trace (IDLE left out), largest self-time first, and
  an `UNLISTED` entry for the ops beyond the converter's list."""
  from tensorflow.python.profiler.internal import (  # no public API
      _pywrap_profiler_plugin as converter)
  data, _ = converter.xspace_to_tools_data(list(paths), "framework_op_stats",
                                           {})
  table = json.loads(data)[0]
  column = {c["id"]: i for i, c in enumerate(table["cols"])}
  ops, idle_us, host_total_us = [], 0.0, None
  for row in table["rows"]:
    values = [cell.get("v") for cell in row["c"]]
    self_us = float(values[column["total_self_time"]])
    share = float(values[column["host_total_self_time_percent"]] or 0.0)
    if host_total_us is None and share > 0:
      host_total_us = self_us / share  # the share is a fraction of all
    if values[column["type"]] == "IDLE":
      idle_us += self_us
      continue
    ops.append(OpTime(values[column["type"]], values[column["operation"]],
                      int(values[column["occurrences"]]), self_us))
  ops.sort(key=lambda op: -op.self_us)
  unlisted = (host_total_us or 0.0) - idle_us - sum(op.self_us for op in ops)
  if unlisted > 1e-6 * (host_total_us or 0.0):
    ops.append(OpTime(UNLISTED, UNLISTED, 0, unlisted))
  return ops


def part_of(name: str, parts: Sequence[str]) -> str:
  """The first scope of `parts` in the op's name ("<part> backward" for
  gradient ops), or "other"."""
  if name == UNLISTED:
    return UNLISTED
  components = name.split("/")
  backward = BACKWARD in components
  for part in parts:
    if part in components:
      return f"{part} backward" if backward else part
  return "other backward" if backward else "other"


def by_part(ops: Sequence[OpTime], parts: Sequence[str],
            steps: int) -> Dict[str, float]:
  """Milliseconds of op self-time per step for each part."""
  totals = collections.defaultdict(float)
  for op in ops:
    totals[part_of(op.name, parts)] += op.self_us / 1000.0 / steps
  return dict(sorted(totals.items(), key=lambda item: -item[1]))


def by_type(ops: Sequence[OpTime], steps: int) -> Dict[str, float]:
  """Milliseconds of op self-time per step for each op type."""
  totals = collections.defaultdict(float)
  for op in ops:
    totals[op.op_type] += op.self_us / 1000.0 / steps
  return dict(sorted(totals.items(), key=lambda item: -item[1]))
