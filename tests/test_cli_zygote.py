"""cli_zygote: a program run in a forked child gives what `python -m` in a
fresh interpreter gives (output, exit code, argv, cwd, environment, atexit,
tracebacks, signals), only without importing TensorFlow again."""

import os
import signal
import subprocess
import sys

import pytest

from conftest import ZYGOTE

PROBE = '''
import atexit, os, random, signal, sys
import numpy as np
imported = "tensorflow" in sys.modules
import tensorflow as tf
atexit.register(lambda: print("atexit ran"))
print("argv", sys.argv[1:], "cwd", os.getcwd() == sys.path[0],
      os.path.basename(sys.argv[0]), __name__)
print("env", os.environ.get("PROBE_VALUE"),
      os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
      os.environ.get("CLI_ZYGOTE_SERVER"))
print("op", int(tf.constant(2) * 3))
print("stdin", repr(sys.stdin.read()))
print("tensorflow imported before", imported, file=sys.stderr)
print("draws", random.random(), float(np.random.rand()), file=sys.stderr)
action = sys.argv[1]
if action == "raise":
  raise ValueError("the probe's own error")
if action == "kill":
  sys.stdout.flush()
  os.kill(os.getpid(), signal.SIGKILL)
if action == "sleep":
  import time
  time.sleep(60)
if action == "usage":
  sys.exit("probe: error: a one-line message")
sys.exit(int(action))
'''


@pytest.fixture
def probe(tmp_path):
  (tmp_path / "zygote_probe.py").write_text(PROBE)
  return str(tmp_path)


def _env():
  """The child's environment is the request's alone (the zygote's has
  CLI_ZYGOTE_SERVER)."""
  return dict(os.environ, PROBE_VALUE="seen")


def _forked(cwd, *args):
  return ZYGOTE.run(args, module="zygote_probe", cwd=cwd, env=_env(),
                    timeout=120)


def _without_import_and_draws(stderr):
  return [line for line in stderr.splitlines()
          if not line.startswith(("tensorflow imported before", "draws"))
          and "cuda" not in line.lower() and "absl" not in line]


def test_a_forked_run_gives_what_a_fresh_interpreter_gives(probe):
  fresh = subprocess.run([sys.executable, "-m", "zygote_probe", "0"],
                         cwd=probe, env=_env(), capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
  forked = _forked(probe, "0")
  assert fresh.returncode == forked.returncode == 0, forked.stderr
  assert forked.stdout == fresh.stdout == (
      "argv ['0'] cwd True zygote_probe.py __main__\n"
      f"env seen {os.environ['TF_CPP_MIN_LOG_LEVEL']} None\nop 6\n"
      "stdin ''\natexit ran\n")
  assert _without_import_and_draws(forked.stderr) == \
      _without_import_and_draws(fresh.stderr) == []
  assert forked.args == [sys.executable, "-m", "zygote_probe", "0"]
  # what the zygote is for: TensorFlow came imported, not in a fresh one
  assert "tensorflow imported before True" in forked.stderr
  assert "tensorflow imported before False" in fresh.stderr


def test_exit_codes_tracebacks_and_signals_are_the_interpreters(probe):
  """As `python -m` reports them: sys.exit(n), sys.exit(message), an
  uncaught exception, death by a signal."""
  assert _forked(probe, "3").returncode == 3
  usage = _forked(probe, "usage")
  assert usage.returncode == 1
  assert usage.stderr.endswith("probe: error: a one-line message\n")
  assert usage.stdout.endswith("atexit ran\n")
  error = _forked(probe, "raise")
  assert error.returncode == 1
  assert error.stderr.rstrip().endswith("ValueError: the probe's own error")
  assert "Traceback (most recent call last)" in error.stderr
  killed = _forked(probe, "kill")
  assert killed.returncode == -signal.SIGKILL
  assert killed.stdout.startswith("argv ['kill']")
  assert "atexit ran" not in killed.stdout


def test_each_child_draws_its_own_random_numbers(probe):
  draws = [[line for line in _forked(probe, "0").stderr.splitlines()
            if line.startswith("draws")][0] for _ in range(2)]
  python_a, numpy_a = draws[0].split()[1:]
  python_b, numpy_b = draws[1].split()[1:]
  assert python_a != python_b and numpy_a != numpy_b


def test_a_run_over_its_time_is_killed_and_the_next_one_runs(probe):
  with pytest.raises(subprocess.TimeoutExpired):
    ZYGOTE.run(["sleep"], module="zygote_probe", cwd=probe,
               env=os.environ, timeout=3)
  after = _forked(probe, "5")
  assert after.returncode == 5, after.stderr
