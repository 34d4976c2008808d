"""`python -m csam_tf.step_profile`: the command keeps its name; the code is
csam_tf.performance.step_profile."""

from csam_tf.core import cli
from csam_tf.performance import step_profile

if __name__ == "__main__":
  __doc__ = step_profile.__doc__  # --help shows the command's own usage
  cli.run(step_profile.main, step_profile.PROG)
