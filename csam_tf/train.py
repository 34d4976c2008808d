"""`python -m csam_tf.train --flagfile=configs/<x>.cfg`: the whole
pipeline. The command keeps its name; the code is csam_tf.pipeline.train."""

from csam_tf.pipeline import train

entry_point = train.entry_point  # setup.py's csam-train

if __name__ == "__main__":
  __doc__ = train.__doc__  # --help shows the command's own usage
  entry_point()
