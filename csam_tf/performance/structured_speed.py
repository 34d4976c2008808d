"""`python -m csam_tf.structured.speed`: does channel pruning make the
.tflite faster, in proportion to the FLOPs it removes?

Builds the architecture at each width, closes `--sparsity` of every
prunable channel group (DepGraph group norm, one-shot), removes the
channels, converts dense and narrow models to float32 and int8 TFLite and
measures single-image latency of the pair in alternation through
ai-edge-litert (XNNPACK). Latency does not depend on what the weights
learned, so an untrained network of the right shape answers the question at
widths too costly to train on a CPU; the trained demo's own figures are in
its report.json (export.dense_vs_pruned).
"""

import json
import os
import sys
import time

from absl import flags, logging

from csam_tf.core import cli
from csam_tf.models import names as model_names
from csam_tf.performance.structured_latency import measure, table

flags.DEFINE_string("arch", "resnet18", "Architecture.")
flags.DEFINE_list("widths", ["0.25", "1.0"], "Width multipliers.")
flags.DEFINE_float("sparsity", 0.5, "Fraction of each group's channels "
                   "removed.", lower_bound=0.0, upper_bound=0.95)
flags.DEFINE_list("input_shape", ["28", "28", "1"], "Image height, width, "
                  "channels (Fashion-MNIST by default).")
flags.DEFINE_list("threads", ["1", "2"], "ai-edge-litert thread counts.")
flags.DEFINE_integer("runs", 300, "Paired single-image invocations per "
                     "measurement.", lower_bound=10)
flags.DEFINE_integer("repeats", 3, "Measurements per model pair (the "
                     "table shows their median and spread).", lower_bound=1)
flags.DEFINE_string("output", "", "Write the figures as JSON here.")

FLAGS = flags.FLAGS
PROG = "csam_tf.structured.speed"


def main(argv):
  del argv
  try:
    widths = [float(w) for w in FLAGS.widths]
    input_shape = tuple(int(v) for v in FLAGS.input_shape)
    threads = [int(t) for t in FLAGS.threads]
  except ValueError as e:
    cli.fail(PROG, ValueError(f"--widths takes numbers, --input_shape and "
                              f"--threads integers ({e})"))
  if FLAGS.arch not in model_names.ARCHITECTURES:
    cli.fail(PROG, ValueError(f"--arch={FLAGS.arch}: choose from "
                              f"{', '.join(model_names.ARCHITECTURES)}"))
  if len(input_shape) != 3 or any(w <= 0 for w in widths):
    cli.fail(PROG, ValueError("--input_shape takes height,width,channels "
                              "and --widths positive numbers"))
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  import keras_cv  # noqa: F401  (Keras 3 before tfmot)
  start = time.time()
  results = [measure(FLAGS.arch, w, input_shape, FLAGS.sparsity, threads,
                     FLAGS.runs, FLAGS.repeats) for w in widths]
  print(f"python -m {PROG} {' '.join(sys.argv[1:])}  "
        f"({time.time() - start:.0f} s CPU, {os.cpu_count()} cores)")
  print(table(results))
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      json.dump(results, f, indent=1)
