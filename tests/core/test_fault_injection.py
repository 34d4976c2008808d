"""fault_injection.kill_point: SIGKILL at the named point (of the process,
or of its whole group), nothing anywhere else."""

import os
import signal
import subprocess
import sys

from conftest import REPO

_SCRIPT = ("from csam_tf.core import fault_injection\n"
           "fault_injection.kill_point('mask:epoch1')\n"
           "print('went on', flush=True)\n")


def _run(env_value):
  env = {k: v for k, v in os.environ.items()
         if k != "CSAM_TF_SIGKILL_AT"}
  if env_value is not None:
    env["CSAM_TF_SIGKILL_AT"] = env_value
  return subprocess.run([sys.executable, "-c", _SCRIPT], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=60)


def test_the_named_point_is_a_sigkill():
  result = _run("mask:epoch1")
  assert result.returncode == -signal.SIGKILL
  assert result.stdout == ""


def test_other_points_and_no_variable_go_on():
  for value in (None, "", "mask:epoch2", "certify:dense_composite_L2.csv:8"):
    result = _run(value)
    assert result.returncode == 0, (value, result.stderr)
    assert result.stdout == "went on\n"


def test_the_group_form_kills_the_parent_too():
  parent = ("import subprocess, sys\n"
            f"subprocess.run([sys.executable, '-c', {_SCRIPT!r}])\n"
            "print('parent went on', flush=True)\n")
  env = dict(os.environ, CSAM_TF_SIGKILL_AT="group:mask:epoch1")
  result = subprocess.run([sys.executable, "-c", parent], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60,
                          start_new_session=True)
  assert result.returncode == -signal.SIGKILL
  assert result.stdout == ""
