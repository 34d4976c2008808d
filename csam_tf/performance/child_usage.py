"""One child process's own CPU seconds, wall time and peak memory.

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
from typing import Dict, Optional, Sequence

# Runs argv[2:], writes "peak_rss_kb cpu_seconds" to argv[1], exits with
# the command's exit code.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "open(sys.argv[1], 'w').write(\n"
    "    f'{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n")


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
