"""`python -m csam_tf.bench`: the command keeps its name; the code is
csam_tf.performance.bench."""

from csam_tf.core import cli
from csam_tf.performance import bench

if __name__ == "__main__":
  __doc__ = bench.__doc__  # --help shows the command's own usage
  cli.run(bench.main, bench.PROG)
