"""`python -m csam_tf.demo_budget`: the command keeps its name; the code is
csam_tf.performance.demo_budget."""

from csam_tf.core import cli
from csam_tf.performance import demo_budget

if __name__ == "__main__":
  __doc__ = demo_budget.__doc__  # --help shows the command's own usage
  cli.run(demo_budget.main, demo_budget.PROG)
