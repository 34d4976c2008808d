"""Wall time and peak memory of one child process, its own.

Linux charges a process with the high-water RSS of the memory it exec'd
from, so a child that a TensorFlow-holding process starts directly is
reported with that process's 0.6 GB as a floor; getrusage(RUSAGE_CHILDREN)
is also the largest child ever waited for, not the last one. Here a small
launcher starts the command and reads the command's own rusage with wait4.
"""

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from typing import Sequence

# Runs argv[2:] and writes its peak RSS (KiB) to argv[1]; exits with its code.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n")


@dataclasses.dataclass(frozen=True)
class ChildUsage:
  exit_code: int
  wall_seconds: float
  peak_rss_kb: int


def run_measured(command: Sequence[str]) -> ChildUsage:
  """Runs `command` (output discarded) and measures it."""
  with tempfile.TemporaryDirectory() as folder:
    peak_file = os.path.join(folder, "peak_rss_kb")
    start = time.time()
    code = subprocess.call([sys.executable, "-c", _LAUNCHER, peak_file,
                            *command], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    wall = time.time() - start
    with open(peak_file) as f:
      return ChildUsage(code, wall, int(f.read()))
