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
import tempfile
import time

from absl import app, flags, logging

from csam_tf import cli
from csam_tf.models import names as model_names

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


def narrow_pair(arch, width, input_shape, sparsity, seed=0):
  """(dense, narrow) tf_keras models of `arch` at `width`."""
  import numpy as np
  import tf_keras
  from csam_tf.masking import binarize, masked_model
  from csam_tf.masking.layers import masked_layers
  from csam_tf.models import build_model
  from csam_tf.structured import surgery
  from csam_tf.structured.dependency_graph import channel_graph
  tf_keras.utils.set_random_seed(seed)
  dense = build_model(arch, input_shape, 10, width)
  gated = masked_model.to_masked_model(dense, "channel", "ones")
  scores = masked_model.channel_group_scores(dense, "group_norm")
  gates = {}
  for layer in masked_layers(gated):
    gate = binarize.binarize([scores[layer.name].astype(np.float32)],
                             sparsity)[0].numpy()
    layer.soft_mask.assign(gate)
    gates[layer.name] = gate
  folded = masked_model.fold_channel_gates(gated)
  graph = channel_graph(folded)
  return dense, surgery.narrow_model(folded, graph,
                                     surgery.keep_from_gates(graph, gates))


def measure(arch, width, input_shape, sparsity, threads, runs, repeats):
  """Figures of one width: parameters, FLOPs, bytes, latencies."""
  import numpy as np
  from csam_tf import export
  from csam_tf.structured import flops
  dense, narrow = narrow_pair(arch, width, input_shape, sparsity)
  rng = np.random.default_rng(0)
  representative = rng.uniform(0, 1, (32, *input_shape)).astype(np.float32)
  image = representative[0]
  result = {"arch": arch, "width_multiplier": width, "sparsity": sparsity,
            "parameters": {"dense": int(dense.count_params()),
                           "pruned": int(narrow.count_params())},
            "flops": {"dense": flops.model_flops(dense),
                      "pruned": flops.model_flops(narrow)}}
  result["flops"]["reduction"] = (result["flops"]["dense"] /
                                  result["flops"]["pruned"])
  with tempfile.TemporaryDirectory() as folder:
    for variant in ("float32", "int8"):
      paths = {}
      for name, model in (("dense", dense), ("pruned", narrow)):
        paths[name] = os.path.join(folder, f"{name}_{variant}.tflite")
        with open(paths[name], "wb") as f:
          f.write(export.convert(model, variant, representative))
      for count in threads:
        speedups, pairs = [], []
        for _ in range(repeats):
          pair = export.paired_latency_ms(
              export.LiteRTModel(paths["dense"], num_threads=count),
              export.LiteRTModel(paths["pruned"], num_threads=count),
              image, runs)
          pairs.append(pair)
          speedups.append(pair[0] / pair[1])
        order = int(np.argsort(speedups)[len(speedups) // 2])
        result[f"{variant}_threads{count}"] = {
            "bytes_dense": os.path.getsize(paths["dense"]),
            "bytes_pruned": os.path.getsize(paths["pruned"]),
            "latency_ms_dense": pairs[order][0],
            "latency_ms_pruned": pairs[order][1],
            "speedup": speedups[order],
            "speedup_min": min(speedups), "speedup_max": max(speedups),
            "speedup_over_flop_reduction":
                speedups[order] / result["flops"]["reduction"]}
  return result


def table(results) -> str:
  """Markdown: one row per width, variant and thread count."""
  lines = ["| model | variant | threads | params dense / pruned | MFLOPs "
           "dense / pruned (reduction) | .tflite KB dense / pruned | "
           "latency ms dense / pruned (CPU) | speed-up (min-max) | "
           "speed-up / FLOP reduction |", "|---|---|---|---|---|---|---|---|"
           "---|"]
  for r in results:
    for key, m in r.items():
      if not isinstance(m, dict) or "speedup" not in m:
        continue
      variant, threads = key.split("_threads")
      lines.append(
          f"| {r['arch']} x{r['width_multiplier']:g} | {variant} | {threads}"
          f" | {r['parameters']['dense']:,} / {r['parameters']['pruned']:,} "
          f"| {r['flops']['dense'] / 1e6:.1f} / {r['flops']['pruned'] / 1e6:.1f}"
          f" ({r['flops']['reduction']:.2f}x) | {m['bytes_dense'] / 1024:.0f}"
          f" / {m['bytes_pruned'] / 1024:.0f} | {m['latency_ms_dense']:.3f} / "
          f"{m['latency_ms_pruned']:.3f} | {m['speedup']:.2f}x "
          f"({m['speedup_min']:.2f}-{m['speedup_max']:.2f}) | "
          f"{m['speedup_over_flop_reduction']:.2f} |")
  return "\n".join(lines)


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


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser(PROG))
