"""`python -m csam_tf.summary --workdir=W`: the command keeps its name; the
code is csam_tf.pipeline.run_summary."""

from csam_tf.core import cli
from csam_tf.pipeline import run_summary

if __name__ == "__main__":
  __doc__ = run_summary.__doc__  # --help shows the command's own usage
  run_summary.define_flags()
  cli.run(run_summary.main, run_summary.PROG)
