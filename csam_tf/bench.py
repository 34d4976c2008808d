"""`python -m csam_tf.bench`: the command keeps its name; the code is
csam_tf.performance.bench."""

from absl import app

from csam_tf import cli
from csam_tf.performance import bench

if __name__ == "__main__":
  __doc__ = bench.__doc__  # --help shows the command's own usage
  app.run(bench.main, flags_parser=cli.flags_parser(bench.PROG))
