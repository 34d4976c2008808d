"""`python -m csam_tf.structured.speed`: the command keeps its name; the
code is csam_tf.performance.structured_speed."""

from csam_tf.core import cli
from csam_tf.performance import structured_speed

if __name__ == "__main__":
  __doc__ = structured_speed.__doc__  # --help shows the command's usage
  cli.run(structured_speed.main, structured_speed.PROG)
