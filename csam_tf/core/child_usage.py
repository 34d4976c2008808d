"""One child process's own CPU seconds, wall time and peak memory.

`call_with_cpu_seconds` is subprocess.call that also returns the child's
CPU seconds (the experiment runner's: unlike wall time, not inflated while
a suite is paused or shares the cores). For peak memory, `run_measured`:

Linux charges a process with the high-water RSS of the memory it exec'd
from, so a child that a TensorFlow-holding process (the bench: 0.6 GB and
up) starts directly has that memory as the floor of its peak;
getrusage(RUSAGE_CHILDREN) is moreover the largest child ever waited for.
A small launcher (no TensorFlow) starts the command and reads the
command's own rusage with wait4, whoever calls.
"""

import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, IO, Mapping, Optional, Sequence, Tuple

# Runs argv[2:], writes "peak_rss_kb cpu_seconds" to argv[1], exits with
# the command's exit code.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "open(sys.argv[1], 'w').write(\n"
    "    f'{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n")


def call_with_cpu_seconds(command: Sequence[str], stdout: IO,
                          env: Optional[Mapping[str, str]] = None
                          ) -> Tuple[int, float]:
  """Runs `command` (stdout and stderr to `stdout`); returns its exit code
  and its own CPU seconds (user + system, from wait4). As subprocess.call,
  never leaves the child running when interrupted."""
  process = subprocess.Popen(command, stdout=stdout,
                             stderr=subprocess.STDOUT, env=env)
  try:
    _, status, usage = os.wait4(process.pid, 0)
  except BaseException:
    process.kill()
    process.wait()
    raise
  process.returncode = os.waitstatus_to_exitcode(status)
  return process.returncode, usage.ru_utime + usage.ru_stime


def run_measured(command: Sequence[str],
                 log_path: Optional[str] = None) -> Dict[str, float]:
  """Runs `command`, its output to `log_path` (or discarded); returns its
  exit code, CPU seconds (user + system), wall seconds and peak RSS."""
  with tempfile.TemporaryDirectory() as folder:
    usage_file = os.path.join(folder, "usage")
    start = time.time()
    with open(log_path or os.devnull, "w") as log:
      code = subprocess.call(
          [sys.executable, "-c", _LAUNCHER, usage_file, *command],
          stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - start
    with open(usage_file) as f:
      peak_kb, cpu = f.read().split()
  return {"exit_code": code, "cpu_seconds": float(cpu),
          "wall_seconds": wall, "peak_rss_gb": int(peak_kb) / 1024 / 1024}
