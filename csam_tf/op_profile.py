"""Where a TensorFlow step spends its time, from TensorFlow's own profiler.

`trace` runs a callable under `tf.profiler` (the trace stays in the log
directory for TensorBoard's profile tab) and `op_times` reads it back with
the converter TensorBoard uses (`framework_op_stats`), so a table of time
per part of a step needs no plugin. Parts are name scopes: an op belongs to
the first scope of `parts` that appears as a component of its name
(gradient ops carry the scope of the op they differentiate, under
`gradient_tape/`, and are counted apart as that part's backward).
"""

import collections
import dataclasses
import glob
import json
import os
from typing import Callable, Dict, List, Sequence

BACKWARD = "gradient_tape"


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
  tf.profiler.experimental.start(logdir)
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
  """Host ops of the trace (IDLE left out), largest self-time first."""
  from tensorflow.python.profiler.internal import (  # no public API
      _pywrap_profiler_plugin as converter)
  data, _ = converter.xspace_to_tools_data(list(paths), "framework_op_stats",
                                           {})
  table = json.loads(data)[0]
  column = {c["id"]: i for i, c in enumerate(table["cols"])}
  ops = []
  for row in table["rows"]:
    values = [cell.get("v") for cell in row["c"]]
    if values[column["type"]] == "IDLE":
      continue
    ops.append(OpTime(values[column["type"]], values[column["operation"]],
                      int(values[column["occurrences"]]),
                      float(values[column["total_self_time"]])))
  return sorted(ops, key=lambda op: -op.self_us)


def part_of(name: str, parts: Sequence[str]) -> str:
  """The first scope of `parts` in the op's name ("<part> backward" for
  gradient ops), or "other"."""
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
