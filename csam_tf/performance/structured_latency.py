"""Dense vs channel-pruned .tflite: build the pair, convert, measure paired
latency (the library behind `python -m csam_tf.structured.speed` and
figure 5 of `csam_tf.bench`)."""

import os
import tempfile


def narrow_pair(arch, width, input_shape, sparsity, seed=0):
  """(dense, narrow) tf_keras models of `arch` at `width`."""
  import numpy as np
  import tf_keras
  from csam_tf.masking import binarize, masked_model
  from csam_tf.masking.mask_layers import masked_layers
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
  dense, narrow = narrow_pair(arch, width, input_shape, sparsity)
  rng = np.random.default_rng(0)
  representative = rng.uniform(0, 1, (32, *input_shape)).astype(np.float32)
  image = representative[0]
  result = {"arch": arch, "width_multiplier": width, "sparsity": sparsity,
            **export.size_figures(dense, narrow)}
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
