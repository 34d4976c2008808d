"""`python -m csam_tf.certify --workdir=W --model=dense|pruned|tflite`:
certifies a finished run's model, including the exported .tflite (the
artefact that ships), with the test data and settings the run recorded.
Several certificates with other bounds or block counts share one process
with a repeated --certificate=FAMILIES/LEVEL[/BOUND[/NBOUNDS]].

Inputs are checked before TensorFlow loads; bad ones give one line and
exit 2. Results join the `certify` entry of <workdir>/report.json and its
CSVs, so a killed run continues from the images already written.
"""

import os

from absl import flags

from csam_tf import atomic_io, cli
from csam_tf.certify import resume as certify_resume
from csam_tf.transforms import flags as _transform_flags  # noqa: F401 (--transform)
from csam_tf.transforms import plugin
from csam_tf.transforms import ranges as transform_ranges
from csam_tf.certify.config import (BOUNDS, CERTIFICATE_SPELLING,
                                    CertifyConfig, parse_certificate)
from csam_tf.data.config import DataConfig, check_data_available
from csam_tf.errors import UsageError

PROG = "csam_tf.certify"
MODEL_FILES = {"dense": "pretrain/model.keras",
               "pruned": "finetune/model.keras",
               "tflite": "export/model.tflite"}
MAKES_FILE = {"dense": "pretrain", "pruned": "finetune", "tflite": "export"}

flags.DEFINE_string("workdir", None, "Workdir of a csam_tf.train run.")
flags.DEFINE_enum("model", "pruned", tuple(MODEL_FILES), "Which model: the "
                  "dense one of stage 1, the pruned one of stage 3, or the "
                  "exported float32 .tflite run through ai-edge-litert.")
flags.DEFINE_list("families", ["composite"], "Transformation families, or "
                  "your own as package.module:factory (also --transform).")
flags.DEFINE_list("levels", ["L2"], "Protocol levels (L1, L2).")
flags.DEFINE_integer("num_images", 1000, "Certify the first N images of "
                     "--split.", lower_bound=1)
flags.DEFINE_enum("split", "test", ("test", "validation"), "Test images "
                  "(final tables) or validation images (choosing settings).")
flags.DEFINE_float("eps", 1e-3, "Certified when the bound is below eps.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("nsamples", 100, "Samples per CC-Cert block.",
                     lower_bound=2)
flags.DEFINE_integer("nbounds", 10, "CC-Cert blocks.", lower_bound=1)
flags.DEFINE_float("delta", 0.9, "CC-Cert delta.", lower_bound=1e-6,
                   upper_bound=1.0)
flags.DEFINE_enum("bound", "ccert", BOUNDS,
                  "ccert: the paper's CC-Cert bound on P(Y >= a); binomial: "
                  "the rigorous Clopper-Pearson bound on P(Y >= a) (needs "
                  "nsamples * nbounds >= 2,302 to reach 1e-3 at delta 0.9); "
                  "clopper_pearson: the same on prediction flips.")
flags.DEFINE_multi_string("certificate", [], "Several certificates in one "
                          "process (TensorFlow starts once), each "
                          f"{CERTIFICATE_SPELLING}; BOUND and NBOUNDS "
                          "default to --bound and --nbounds. Repeat the "
                          "flag; replaces --families and --levels.")
flags.DEFINE_integer("seed", None, "Seed of the sampled transformations "
                     "(default: the run's --seed, from its flags.json).",
                     lower_bound=0)
flags.DEFINE_boolean("restart", False, "Start new CSVs (an existing one is "
                     "kept as <name>.csv.old) instead of resuming them; "
                     "needed when the settings or the model changed.")
flags.DEFINE_boolean("full_bounds", False, "Every CC-Cert block of every "
                     "image (no early exit; same PCA, slower).")
flags.DEFINE_integer("batch_size", 1000, "Transformed images per forward "
                     "pass (lower it to fit a small machine).", lower_bound=1)

FLAGS = flags.FLAGS


def check_inputs():
  """Everything that can be checked without TensorFlow."""
  if not FLAGS.workdir:
    raise UsageError("--workdir is required: the folder of a finished "
                     "csam_tf.train run")
  if FLAGS.transform and FLAGS["families"].present:
    raise UsageError("--transform and --families both name what to "
                     "certify: keep one")
  jobs = requested_certificates()
  run_flags = atomic_io.read_json(os.path.join(FLAGS.workdir, "flags.json"))
  if run_flags is None:
    raise UsageError(f"--workdir={FLAGS.workdir} holds no csam_tf.train run "
                     f"(no flags.json)")
  path = os.path.join(FLAGS.workdir, MODEL_FILES[FLAGS.model])
  if not os.path.exists(path):
    raise UsageError(f"--model={FLAGS.model} needs {path}: run "
                     f"csam_tf.train with --stages={MAKES_FILE[FLAGS.model]} "
                     f"on this workdir first")
  data_config = recorded_data_config(run_flags)
  check_data_available(data_config)
  cfgs = [certify_config(run_flags, *job) for job in jobs]
  for cfg in (c for c in cfgs if not c.restart):
    # (plug-ins: checked once loaded, with TensorFlow)
    for family in (f for f in cfg.families if not plugin.is_plugin(f)):
      for level in cfg.levels:
        certify_resume.check_resumable(
            certify_resume.certificate_csv(
                os.path.join(FLAGS.workdir, "certify"), FLAGS.model, family,
                level, cfg.bound),
            certify_resume.csv_settings(
                cfg, family, level,
                transform_ranges.family_ranges(family, level), None),
            ignore=(certify_resume.MODEL_KEY,))  # checked once loaded
  return data_config, run_flags, cfgs


def requested_certificates():
  """(families, levels, bound, nbounds) per certificate asked for: one from
  --families/--levels (or --transform), or one per --certificate."""
  if not FLAGS.certificate:
    families = ((FLAGS.transform,) if FLAGS.transform
                else tuple(FLAGS.families))
    _check_families("--families", families)
    _check_levels(f"--levels={','.join(FLAGS.levels)}", FLAGS.levels)
    return [(families, tuple(FLAGS.levels), FLAGS.bound, FLAGS.nbounds)]
  for name in ("families", "levels", "transform"):
    if FLAGS[name].present:
      raise UsageError(f"--certificate and --{name} both name what to "
                       f"certify: keep one")
  jobs = []
  for text in FLAGS.certificate:
    try:
      families, level, bound, nbounds = parse_certificate(
          text, FLAGS.bound, FLAGS.nbounds)
    except ValueError as e:
      raise UsageError(f"--certificate: {e}") from None
    _check_families(f"--certificate={text}", families)
    _check_levels(f"--certificate={text}", [level])
    jobs.append((families, (level,), bound, nbounds))
  return jobs


def _check_families(where, families):
  if not families:
    raise UsageError(f"{where} is empty: choose from "
                     f"{', '.join(transform_ranges.FAMILIES)}")
  for spec in families:
    try:
      plugin.check_spec(spec)
    except plugin.TransformError as e:
      raise UsageError(f"{where}: {e}") from None


def _check_levels(where, levels):
  if not levels or any(l not in transform_ranges.LEVELS for l in levels):
    raise UsageError(f"{where}: choose the level from "
                     f"{', '.join(transform_ranges.LEVELS)}")


def recorded_data_config(run_flags) -> DataConfig:
  """The DataConfig of the run, from its flags.json."""
  values = {field: run_flags[field] for field in DataConfig.__dataclass_fields__
            if field in run_flags}
  values["celeba_hq_resolution"] = int(values.get("celeba_hq_resolution", 128))
  return DataConfig(**values)


def certify_config(run_flags, families, levels, bound, nbounds
                   ) -> CertifyConfig:
  seed = FLAGS.seed if FLAGS.seed is not None else run_flags.get("seed", 0)
  return CertifyConfig(
      families=families, levels=levels, num_images=FLAGS.num_images,
      nsamples=FLAGS.nsamples, nbounds=nbounds, delta=FLAGS.delta,
      eps=FLAGS.eps, bound=bound, seed=seed, batch_size=FLAGS.batch_size,
      full_bounds=FLAGS.full_bounds, restart=FLAGS.restart,
      split=FLAGS.split)


def main(argv):
  del argv
  data_config, run_flags, cfgs = cli.checked_start(PROG, check_inputs)
  import keras_cv  # noqa: F401  (Keras 3 before tfmot)
  import tf_keras
  from csam_tf import report
  from csam_tf.certify import run as certify_run
  from csam_tf.certify import sampler as certify_sampler
  from csam_tf.data import pipeline
  from csam_tf.export import LiteRTModel
  data = pipeline.load(data_config)
  images, labels = certify_sampler.first_images(data, FLAGS.num_images,
                                                 FLAGS.split)
  try:
    for cfg in cfgs:
      plugin.load_checked(cfg.families, images.shape[1:], cfg.levels)
  except plugin.TransformError as e:
    cli.fail(PROG, e)
  path = os.path.join(FLAGS.workdir, MODEL_FILES[FLAGS.model])
  if FLAGS.model == "tflite":
    predict = LiteRTModel(path)
  else:
    predict = certify_sampler.KerasPredictor(
        tf_keras.models.load_model(path, compile=False), images.shape[1:])
  try:
    results = certify_run.certify_jobs(
        {FLAGS.model: predict}, images, labels, cfgs,
        os.path.join(FLAGS.workdir, "certify"))
  except UsageError as e:  # a CSV of another model: before any image
    cli.fail(PROG, e)
  merged = dict(report.stage_metrics(FLAGS.workdir, "certify") or {})
  merged.update(results)
  report.update_stage(FLAGS.workdir, "certify", merged, run_flags)


if __name__ == "__main__":
  cli.run(main, PROG, resumes=True)
