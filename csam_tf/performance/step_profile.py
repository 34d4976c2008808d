"""`python -m csam_tf.step_profile --flagfile=configs/bench_fashion_mnist.cfg`:
where stage 2's train_step and certification spend their time.

The mask-search step is traced with TensorFlow's profiler and its op
self-time split by the step's name scopes (transform, mask noise, noisy
forwards, binarise, soft/binary forwards, loss terms, the backward of each,
mask update, metrics); the trace stays under --profile_logdir for
TensorBoard's profile tab. Certification is a Python loop around two traced
functions, so it is timed by part instead: transformation batches, model
forwards, CC-Cert bounds, and the rest (softmax, bookkeeping, CSV). The
section written into BENCHMARKS.md carries --profile_label, so the profile
before a change and after it sit side by side.
"""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from unittest import mock

from absl import flags

from csam_tf.core import cli
from csam_tf.performance import bench
from csam_tf.core import markdown_sections

PROG = "csam_tf.step_profile"
STEP_PARTS = ("transform", "mask_noise", "noisy_forward", "binarize",
              "soft_binary_forward", "loss_terms", "mask_update", "metrics")

flags.DEFINE_integer("profile_steps", 10, "Mask-search steps traced (after "
                     "two warm-up steps) and timed.", lower_bound=1)
flags.DEFINE_integer("profile_cert_images", 10, "Images certified (every "
                     "block) for the certification profile.", lower_bound=1)
flags.DEFINE_string("profile_logdir", "runs/profile", "Where the TensorBoard "
                    "profiler trace is written.")
flags.DEFINE_string("profile_label", "current", "Names the section (e.g. "
                    "before / after a change).")

FLAGS = flags.FLAGS


def git_commit() -> str:
  try:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.abspath(__file__))
                          ).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def mask_step_profile(data, cfg_mask, steps, logdir):
  """Wall time per step and op self-time per part and per op type."""
  import tensorflow as tf
  from csam_tf.performance import op_profile
  network, batch = bench.bench_network(data)
  step = bench.mask_search_step(network, cfg_mask)
  iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
  run = lambda: step(iterator)  # noqa: E731
  paths = op_profile.trace(run, steps, logdir)
  ops = op_profile.op_times(paths)
  wall = bench.median_ms(run, steps)
  return {"batch": int(batch[0].shape[0]), "steps": steps, "wall_ms": wall,
          "parts": op_profile.by_part(ops, STEP_PARTS, steps),
          "types": op_profile.by_type(ops, steps),
          "trace": paths}


class _Stopwatch:
  """Accumulates the wall time of the calls it wraps, per part."""

  def __init__(self):
    self.seconds = {}

  def wrap(self, part, fn):
    def timed(*args, **kwargs):
      start = time.perf_counter()
      try:
        return fn(*args, **kwargs)
      finally:
        self.seconds[part] = (self.seconds.get(part, 0.0) +
                              time.perf_counter() - start)
    return timed


def certification_profile(data, cert_cfg, images_count):
  """Seconds per part of certifying `images_count` images, every block."""
  import dataclasses
  from csam_tf.certify import bounds as certify_bounds
  from csam_tf.certify import sampler as certify_sampler
  from csam_tf.certify import certificate as certify_certificate
  predict, images, labels = bench.bench_certification_inputs(data,
                                                             images_count)
  watch = _Stopwatch()
  predict = watch.wrap("model forward", predict)
  transformed_copies = certify_sampler._transformed_copies  # pylint: disable=protected-access
  image_draws = certify_sampler.image_draws
  cfg = dataclasses.replace(cert_cfg, num_images=images_count,
                            full_bounds=True)
  with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as s:
    # Warm-up (tracing) outside the timed run.
    certify_certificate.certify_model(predict, images[:1], labels[:1],
                                  "composite", "L2",
                                  dataclasses.replace(cfg, num_images=1),
                                  os.path.join(folder, "warm.csv"))
    watch.seconds.clear()
    s.enter_context(mock.patch.object(
        certify_sampler, "_transformed_copies",
        watch.wrap("transformation batches", transformed_copies)))
    s.enter_context(mock.patch.object(
        certify_sampler, "image_draws",
        watch.wrap("transformation batches", image_draws)))
    s.enter_context(mock.patch.object(
        certify_bounds, "cc_cert_bound",
        watch.wrap("CC-Cert bound", certify_bounds.cc_cert_bound)))
    start = time.perf_counter()
    summary = certify_certificate.certify_model(
        predict, images, labels, "composite", "L2", cfg,
        os.path.join(folder, "profile.csv"))
    wall = time.perf_counter() - start
  parts = dict(watch.seconds)
  parts["rest (softmax, bookkeeping, CSV)"] = wall - sum(parts.values())
  return {"images": images_count, "wall_seconds": wall, "parts": parts,
          "forward_passes_per_second": summary["forward_passes_per_second"]}


def section(label, step, cert, command) -> str:
  """The BENCHMARKS.md section of this profile."""
  from csam_tf.performance import op_profile
  total = sum(step["parts"].values())
  wall = step["wall_ms"]
  lines = [
      f"### Profile: {label} (`python -m {PROG}`)", "",
      f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} at commit "
      f"{git_commit()}, {os.cpu_count()} CPU cores, no GPU.", "",
      f"Mask-search `train_step`, batch {step['batch']}: wall "
      f"{wall[0]:.0f} ms per step (median of {step['steps']}, "
      f"{wall[1]:.0f}-{wall[2]:.0f}, CPU); op self-time {total:.0f} ms per "
      f"step summed over both cores (TensorFlow profiler, "
      f"{step['steps']} steps).", "",
      "| part of the step | forward ms/step | backward ms/step | share of "
      "op time |", "|---|---|---|---|"]
  names = [p for p in STEP_PARTS + ("other", op_profile.UNLISTED)
           if p in step["parts"] or f"{p} backward" in step["parts"]]
  for name in sorted(names, key=lambda p: -(
      step["parts"].get(p, 0.0) + step["parts"].get(f"{p} backward", 0.0))):
    forward = step["parts"].get(name, 0.0)
    backward = step["parts"].get(f"{name} backward", 0.0)
    lines.append(f"| {name} | {forward:.1f} | {backward:.1f} | "
                 f"{(forward + backward) / total:.1%} |")
  lines += ["", "| op type (top 8) | ms/step | share of op time |",
            "|---|---|---|"]
  for op_type, ms in list(step["types"].items())[:8]:
    lines.append(f"| {op_type} | {ms:.1f} | {ms / total:.1%} |")
  lines += ["", f"Certification, {cert['images']} images x 1,000 "
            f"transformations, every block: {cert['wall_seconds']:.1f} s "
            f"wall (CPU), {cert['forward_passes_per_second']:,.0f} forward "
            "passes/s.", "", "| part | seconds | share of wall |",
            "|---|---|---|"]
  for part, seconds in sorted(cert["parts"].items(), key=lambda i: -i[1]):
    lines.append(f"| {part} | {seconds:.2f} | "
                 f"{seconds / cert['wall_seconds']:.1%} |")
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  cli.checked_start(PROG, bench.check_inputs)
  import keras_cv  # noqa: F401  (Keras 3 before tfmot)
  from csam_tf.certify import flags as certify_flags
  from csam_tf.data import flags as data_flags
  from csam_tf.data import pipeline
  from trainers import mask_search_flags
  data = pipeline.load(data_flags.data_config())
  step = mask_step_profile(data, mask_search_flags.mask_search_config(),
                           FLAGS.profile_steps, FLAGS.profile_logdir)
  cert = certification_profile(
      data, certify_flags.certify_config(FLAGS.seed),
      FLAGS.profile_cert_images)
  command = " ".join([f"python -m {PROG}"] + sys.argv[1:])
  text = section(FLAGS.profile_label, step, cert, command)
  print(text)
  print(f"TensorBoard trace: {', '.join(step['trace'])}")
  if FLAGS.bench_markdown:
    markdown_sections.update_section(
        FLAGS.bench_markdown, f"{PROG} {FLAGS.profile_label}", text)
