"""A SIGKILL at a named point of a run, for the crash-safety tests.

A test that polls the workdir and kills the run when a file appears races
the run: on a fast machine (or a near-chance tiny model, whose images
settle at once) the run can finish the stage between two polls. With
CSAM_TF_SIGKILL_AT naming a point, the run kills itself there, with the
same signal a user's `kill -9` or an out-of-memory killer sends, so the
resume after it is tested at the same place on every machine.
"""

import os
import signal

ENVIRONMENT_VARIABLE = "CSAM_TF_SIGKILL_AT"


def kill_point(name: str) -> None:
  """SIGKILLs this process when CSAM_TF_SIGKILL_AT equals `name`.

  Points: "<stage>:epoch<k>" once a training stage's epoch k is
  checkpointed; "certify:<csv file name>:<rows>" once that many rows of a
  certificate are written. "group:<point>" kills the whole process group
  there (a benchmark suite and the run it started, as a session's end
  does)."""
  wanted = os.environ.get(ENVIRONMENT_VARIABLE)
  if wanted == name:
    os.kill(os.getpid(), signal.SIGKILL)
  elif wanted == f"group:{name}":
    os.killpg(os.getpgid(0), signal.SIGKILL)
