"""`python -m csam_tf.bench --flagfile=configs/bench_fashion_mnist.cfg`:
how close the implementation is to what the hardware allows, each figure a
ratio measured inside one run (absolute times on a shared 2-core CPU are
noise), written as a section of BENCHMARKS.md.

1. mask-search efficiency: median C-SAM train_step / (forward
   batch-equivalents x median cross-entropy train_step), eager-graph and XLA;
2. certification throughput / plain batched inference, and certified
   images per second with and without early exit (PCA must be identical);
3. the demo command's wall time and peak resident memory (`--run_demo`);
4. C-SAM vs tfmot magnitude pipeline time, accuracy and PCA (from the
   experiments' results.csv);
5. .tflite size and latency: dense, unstructured (sparse-encoded) and
   channel-pruned, float32 and int8;
6. achieved GFLOP/s of inference, training and mask-search steps against
   the CPU's FP32 peak.
"""

import os
import statistics
import sys
import tempfile
import time

from absl import flags

from csam_tf.core import cli
from csam_tf.core import markdown_sections
from csam_tf.core.machine import cpu_peak, machine_label
from csam_tf.core import child_usage
from csam_tf.performance.pipeline_cost import pipeline_figures, pipeline_line
from csam_tf.pipeline import pipeline_flags  # noqa: F401 (its flagfiles)
from csam_tf.core.errors import UsageError
from csam_tf.core import workdir as workdir_lib

PROG = "csam_tf.bench"
MASK_FORWARD_EQUIVALENTS = 6  # noisy x2 on [x, T(x)], soft and binary on x

flags.DEFINE_string("model_workdir", "runs/bench/dense/seed0", "A finished "
                    "stage-1 workdir whose trained model is measured.")
flags.DEFINE_string("results", "docs/bench_results.csv", "results.csv of "
                    "the experiments' main suite (figure 4; the default is "
                    "the committed one, made from docs/bench_records/v2).")
flags.DEFINE_integer("repeats", 30, "Timed steps per measurement.",
                     lower_bound=3)
flags.DEFINE_integer("bench_cert_images", 50, "Images certified for "
                     "figure 2.", lower_bound=1)
flags.DEFINE_boolean("bench_xla", True, "Also time the mask-search step "
                     "compiled with XLA (--mask_xla); compiling takes a "
                     "minute.")
flags.DEFINE_boolean("run_demo", False, "Run the demo command for figure 3 "
                     "(about 3 minutes on 2 idle AVX-512 cores; "
                     "python -m csam_tf.demo_budget compares it with the "
                     "full-quality config).")
flags.DEFINE_string("bench_markdown", "BENCHMARKS.md", "File whose bench "
                    "section is regenerated ('' = print only).")

FLAGS = flags.FLAGS


def median_ms(call, repeats):
  """(median, min, max) wall time in ms of `call()` after two warm-ups."""
  call()
  call()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    times.append((time.perf_counter() - start) * 1000.0)
  return statistics.median(times), min(times), max(times)


def bench_network(data):
  """The bench's trained dense model (--model_workdir) and one training
  batch: what every step timing runs on."""
  from csam_tf.models import build_model
  images, labels = next(iter(data.train(seed=0)))
  network = build_model(FLAGS.arch, data.input_shape, data.num_classes,
                        FLAGS.width_multiplier)
  network.load_weights(os.path.join(FLAGS.model_workdir,
                                    workdir_lib.PRETRAIN_WEIGHTS))
  return network, (images, labels)


def mask_search_step(network, cfg_mask):
  """A compiled C-SAM train_step on a fresh masked copy of `network`
  (percentile init, learning rate ~0 so repeated steps stay alike)."""
  import tf_keras
  from csam_tf.masking.masked_model import to_masked_model
  from trainers.mask_search import MaskSearchTrainer
  masked = to_masked_model(network, "unstructured", "percentile", 30.0, 0)
  trainer = MaskSearchTrainer(masked, cfg_mask, 0)
  trainer.compile(optimizer=tf_keras.optimizers.Adam(1e-9))
  return trainer.make_train_function()


def training_figures(data, cfg_mask, repeats):
  """Figures 1 and 6: step times of plain CE training, the mask search
  (graph and XLA), and plain inference, on the bench model and batch."""
  import dataclasses
  import tensorflow as tf
  import tf_keras
  from csam_tf.structured import flops
  from trainers.cross_entropy import CrossEntropyTrainer
  network, batch = bench_network(data)
  images = batch[0]
  forward = flops.model_flops(network) * int(images.shape[0])
  ce = CrossEntropyTrainer(network)
  ce.compile(optimizer=tf_keras.optimizers.SGD(1e-9))
  ce_step = ce.make_train_function()
  batches = tf.data.Dataset.from_tensors(batch).repeat()
  iterator = iter(batches)
  ce_ms = median_ms(lambda: ce_step(iterator), repeats)
  infer = tf.function(lambda x: network(x, training=False))
  infer_ms = median_ms(lambda: infer(images).numpy(), repeats)
  results = {"batch": int(images.shape[0]), "forward_flops": forward,
             "ce_step_ms": ce_ms, "inference_ms": infer_ms}
  for jit in (False, True) if FLAGS.bench_xla else (False,):
    step = mask_search_step(network, dataclasses.replace(cfg_mask, xla=jit))
    key = "mask_step_ms_xla" if jit else "mask_step_ms"
    try:
      results[key] = median_ms(lambda: step(iterator), repeats)
    except Exception as e:  # pylint: disable=broad-except (report, go on)
      results[key] = None
      lines = [l.strip() for l in str(e).splitlines() if l.strip()]
      reasons = [l for l in lines if "XLA" in l or "compil" in l.lower()]
      results[key + "_error"] = (reasons or lines or [""])[0][:160]
  return results


def bench_certification_inputs(data, images_count):
  """The bench model's traced predictor and the first test images."""
  import tf_keras
  from csam_tf.certify import certificate as certify_certificate
  from csam_tf.certify import predictors as certify_predictors
  model = tf_keras.models.load_model(
      os.path.join(FLAGS.model_workdir, workdir_lib.PRETRAIN_MODEL),
      compile=False)
  images, labels = certify_certificate.first_images(data, images_count)
  return (certify_predictors.KerasPredictor(model, images.shape[1:]), images,
          labels)


def certification_figures(data, cert_cfg, images_count):
  """Figure 2: throughput ratio, and early exit's speed-up at equal PCA."""
  import dataclasses
  from csam_tf.certify import certificate as certify_certificate
  from csam_tf.certify import predictors as certify_predictors
  predict, images, labels = bench_certification_inputs(data, images_count)
  plain = certify_predictors.plain_throughput(predict, images,
                                              cert_cfg.batch_size)
  out = {"plain_inference_per_second": plain}
  with tempfile.TemporaryDirectory() as folder:
    for full in (True, False):
      cfg = dataclasses.replace(cert_cfg, num_images=images_count,
                                full_bounds=full)
      summary = certify_certificate.certify_model(
          predict, images, labels, "composite", "L2", cfg,
          os.path.join(folder, f"full{full}.csv"))
      out["full" if full else "early_exit"] = summary
  return out


def demo_figures():
  """Figure 3: wall time and peak RSS of the demo command's own process."""
  with tempfile.TemporaryDirectory() as folder:
    return child_usage.run_measured(
        [sys.executable, "-m", "csam_tf.train", "--flagfile=configs/demo.cfg",
         f"--workdir={folder}/demo"])


def tflite_figures(data):
  """Figure 5: dense vs unstructured 50% (sparse-encoded) vs channel 50%."""
  import numpy as np
  import tf_keras
  from csam_tf import export
  from csam_tf.masking import binarize
  from csam_tf.models import copy_model
  from csam_tf.masking.masked_model import prunable_layer_names
  from csam_tf.performance import structured_latency as latency
  dense = tf_keras.models.load_model(
      os.path.join(FLAGS.model_workdir, workdir_lib.PRETRAIN_MODEL),
      compile=False)
  unstructured = copy_model(dense)
  for name in prunable_layer_names(unstructured):
    layer = unstructured.get_layer(name)
    weights = layer.get_weights()
    keep = binarize.binarize([np.abs(weights[0])], 0.5)[0].numpy()
    layer.set_weights([weights[0] * keep] + weights[1:])
  _, channel = latency.narrow_pair(FLAGS.arch, FLAGS.width_multiplier,
                                 data.input_shape, 0.5)
  representative = [x for x, _ in data.train(seed=0, max_steps=2)
                    for x in x.numpy()][:64]
  image = representative[0]
  out = {}
  with tempfile.TemporaryDirectory() as folder:
    files = {}
    for name, model, variants in (
        ("dense", dense, ("float32", "int8")),
        ("unstructured", unstructured, ("float32", "int8", "sparse")),
        ("channel", channel, ("float32", "int8"))):
      for variant in variants:
        path = os.path.join(folder, f"{name}_{variant}.tflite")
        with open(path, "wb") as f:
          f.write(export.convert(model, variant, representative))
        files[(name, variant)] = path
    for (name, variant), path in files.items():
      reference = files[("dense", "int8" if variant == "int8" else
                         "float32")]
      dense_ms, ms = export.paired_latency_ms(
          export.LiteRTModel(reference), export.LiteRTModel(path), image)
      out[(name, variant)] = {"bytes": os.path.getsize(path),
                              "latency_ms": ms, "dense_latency_ms": dense_ms}
  return out


def section(figures, command) -> str:
  """The BENCHMARKS.md section of this run."""
  peak, peak_how = figures["peak"]
  t = figures["training"]
  lines = [f"## Performance (`python -m {PROG}`)", "",
           f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}, "
           f"{machine_label()}, no GPU. Medians of "
           f"{FLAGS.repeats} timed steps (min-max in brackets), CPU.", "",
           "| # | figure | measured | goal |", "|---|---|---|---|"]

  def ms(value):
    return f"{value[0]:.1f} ms ({value[1]:.1f}-{value[2]:.1f})"

  equivalents = MASK_FORWARD_EQUIVALENTS * t["ce_step_ms"][0]
  for key, label in (("mask_step_ms", "graph"), ("mask_step_ms_xla", "XLA")):
    if key not in t:
      lines.append(f"| 1 | mask-search step ({label}) | not run "
                   f"(`--nobench_xla`) | <= 0.8 |")
    elif t.get(key):
      lines.append(
          f"| 1 | mask-search step ({label}) / ({MASK_FORWARD_EQUIVALENTS} x "
          f"CE step): {ms(t[key])} / ({MASK_FORWARD_EQUIVALENTS} x "
          f"{ms(t['ce_step_ms'])}) | **{t[key][0] / equivalents:.2f}** | "
          f"<= 0.8 |")
    else:
      lines.append(f"| 1 | mask-search step ({label}) | failed: "
                   f"{t.get(key + '_error', '')} | <= 0.8 |")
  c = figures["certification"]
  full, early = c["full"], c["early_exit"]
  lines.append(
      f"| 2 | certification passes/s / plain inference images/s (batch "
      f"{FLAGS.cert_batch_size}, {full['images']} images, every block) | "
      f"{full['forward_passes_per_second']:,.0f} / "
      f"{c['plain_inference_per_second']:,.0f} = "
      f"**{full['forward_passes_per_second'] / c['plain_inference_per_second']:.2f}**"
      f" | >= 0.8 |")
  same = all(full[k] == early[k] for k in full if k.startswith("pca@"))
  lines.append(
      f"| 2b | certified images/s, every block -> early exit | "
      f"{full['images_per_second']:.2f} -> {early['images_per_second']:.2f} "
      f"(**{early['images_per_second'] / full['images_per_second']:.2f}x**; "
      f"PCA@1e-3 {full['pca@0.001']:.3f} vs {early['pca@0.001']:.3f}, "
      f"{'identical' if same else 'DIFFERENT'} at every eps) | same PCA |")
  demo = figures.get("demo")
  if demo:
    lines.append(
        f"| 3 | demo command (configs/demo.cfg, all five stages) | "
        f"{demo['wall_seconds'] / 60:.1f} min, peak RSS "
        f"{demo['peak_rss_gb']:.2f} GB (exit {demo['exit_code']}) | <= 15 "
        f"min, <= 4 GB |")
  else:
    lines.append("| 3 | demo command | not run (`--run_demo`) | <= 15 min, "
                 "<= 4 GB |")
  pipe = figures.get("pipeline")
  if pipe:
    for sparsity in ("0.5", "0.9"):
      a, b = pipe.get(("csam", sparsity)), pipe.get(("magnitude", sparsity))
      if a and b:
        lines.append(pipeline_line(sparsity, a, b))
  else:
    lines.append(f"| 4 | C-SAM vs magnitude | no runs in {FLAGS.results} "
                 f"| |")
  for (name, variant), f in figures["tflite"].items():
    lines.append(
        f"| 5 | .tflite {name} {variant} | {f['bytes'] / 1024:,.0f} KB, "
        f"{f['latency_ms']:.3f} ms (dense {variant if variant != 'sparse' else 'float32'} "
        f"{f['dense_latency_ms']:.3f} ms) | |")
  forward = t["forward_flops"]
  for label, flop, value in (
      ("inference (forward)", forward, t["inference_ms"]),
      ("CE training step (3 x forward)", 3 * forward, t["ce_step_ms"]),
      ("mask-search step (3 x 6 forwards)", 18 * forward,
       t.get("mask_step_ms"))):
    if value:
      achieved = flop / (value[0] / 1000.0) / 1e9
      share = f" = **{achieved / peak:.0%}** of peak" if peak else ""
      lines.append(f"| 6 | GFLOP/s, {label}, batch {t['batch']} | "
                   f"{achieved:.1f}{share} | peak: {peak_how} |")
  return "\n".join(lines) + "\n"


def check_inputs():
  weights = os.path.join(FLAGS.model_workdir, workdir_lib.PRETRAIN_WEIGHTS)
  if not os.path.exists(weights):
    raise UsageError(f"--model_workdir={FLAGS.model_workdir} has no "
                     f"{workdir_lib.PRETRAIN_WEIGHTS}: run the experiments' "
                     f"main suite (or csam_tf.train --stages=pretrain) first")


def main(argv):
  del argv
  cli.checked_start(PROG, check_inputs)
  import keras_cv  # noqa: F401  (Keras 3 before tfmot)
  from csam_tf.certify import flags as certify_flags
  from csam_tf.data import flags as data_flags
  from csam_tf.data import pipeline
  from trainers import mask_search_flags
  data = pipeline.load(data_flags.data_config())
  figures = {"peak": cpu_peak()}
  figures["training"] = training_figures(
      data, mask_search_flags.mask_search_config(), FLAGS.repeats)
  figures["certification"] = certification_figures(
      data, certify_flags.certify_config(FLAGS.seed), FLAGS.bench_cert_images)
  figures["tflite"] = tflite_figures(data)
  figures["pipeline"] = pipeline_figures(FLAGS.results)
  if FLAGS.run_demo:
    figures["demo"] = demo_figures()
  command = " ".join([f"python -m {PROG}"] + sys.argv[1:])
  text = section(figures, command)
  print(text)
  if FLAGS.bench_markdown:
    markdown_sections.update_section(FLAGS.bench_markdown, PROG, text)
