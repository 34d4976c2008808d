"""The bench's figure 3 measures the demo process itself."""

import subprocess
import sys

from csam_tf.performance.child_usage import run_measured


def _allocating(megabytes, exit_code=0):
  """A child that touches `megabytes` of memory, then exits."""
  return [sys.executable, "-c", f"b = bytearray({megabytes} << 20); "
          f"b[::4096] = b'x' * len(b[::4096]); raise SystemExit({exit_code})"]


def test_peak_memory_is_the_child_own():
  """Not the largest child this process ever waited for
  (getrusage(RUSAGE_CHILDREN) would say 300 MB here), nor this
  TensorFlow-holding process's memory, which Linux charges a child it
  starts directly with (0.6 GB)."""
  subprocess.run(_allocating(300), check=True)  # an earlier, bigger child
  usage = run_measured(_allocating(100, exit_code=3))
  assert usage.exit_code == 3
  assert 100 * 1024 < usage.peak_rss_kb < 200 * 1024
  assert usage.wall_seconds > 0
