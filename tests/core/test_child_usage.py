"""A child's own CPU seconds, wall time and peak memory (the bench's figure
3 and csam_tf.demo_budget's runs)."""

import subprocess
import sys

from csam_tf.core.child_usage import call_with_cpu_seconds, run_measured


def _child(megabytes, cpu_seconds, exit_code):
  """Touches `megabytes` of memory, computes for `cpu_seconds`, prints
  'done' and its own CPU seconds so far (user + system, os.times), which
  the measure must agree with whatever the machine's speed."""
  return [sys.executable, "-c",
          f"import os, time\nb = bytearray({megabytes} << 20)\n"
          f"b[::4096] = b'x' * len(b[::4096])\nt = time.process_time()\n"
          f"while time.process_time() - t < {cpu_seconds}: sum(range(1000))\n"
          f"times = os.times()\n"
          f"print('done', times.user + times.system)\n"
          f"raise SystemExit({exit_code})"]


def _reported(text):
  """The child's own CPU seconds from its 'done <seconds>' line."""
  word, seconds = text.split()
  assert word == "done"
  return float(seconds)


def test_the_child_alone_is_measured(tmp_path):
  """Measured from this process, which holds TensorFlow (0.6 GB: Linux
  would charge a child it starts directly with it), after a bigger child
  (getrusage(RUSAGE_CHILDREN) would say 300 MB)."""
  subprocess.run(_child(300, 0, 0), check=True, capture_output=True)
  log = tmp_path / "child.log"
  usage = run_measured(_child(100, 0.6, 3), str(log))
  assert usage["exit_code"] == 3
  reported = _reported(log.read_text())
  # its own CPU time: what it reported, plus only its exit (not the 300 MB
  # child's, not this process's)
  assert reported >= 0.6
  assert reported <= usage["cpu_seconds"] <= reported + 0.05
  assert usage["wall_seconds"] >= reported - 0.05
  assert 100 / 1024 < usage["peak_rss_gb"] < 200 / 1024


def test_call_with_cpu_seconds_counts_the_childs_cpu_not_its_sleep(
    tmp_path):
  """The experiment runner's measure: the child's own CPU seconds (0.6 of
  computing), not the 1 s it sleeps; output appended to the open log."""
  log_path = tmp_path / "run.log"
  with open(log_path, "w") as log:
    log.write("$ earlier\n")
    log.flush()
    code, cpu = call_with_cpu_seconds(
        [sys.executable, "-c", "import time; time.sleep(1)\n" +
         _child(10, 0.6, 2)[2]], log, env={"PATH": "/usr/bin"})
  assert code == 2
  earlier, line = log_path.read_text().splitlines()
  assert earlier == "$ earlier"
  reported = _reported(line)
  # the child's CPU seconds (it computed 0.6 of them), within its exit;
  # the second it slept is not CPU time
  assert reported >= 0.6
  assert reported <= cpu <= reported + 0.05
