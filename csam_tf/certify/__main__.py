"""Certifies a classifier's stability under semantic transformations.

`python -m csam_tf.certify --model=PATH --data=DATA`: any model file (a
.tflite, a .keras/.h5 file or a SavedModel folder) on a built-in
dataset's split, an image folder (class/*.png|jpg) or a .npz of `images`
and `labels`; CSVs, the table and report.json go to --out (default
model.tflite -> model_tflite_certify).

`python -m csam_tf.certify --workdir=W --model=dense|pruned|tflite`: a
finished csam_tf.train run's model, including the exported .tflite (the
artefact that ships), with the data and settings the run recorded;
results join the `certify` entry of <workdir>/report.json.

Several certificates with other bounds or block counts share one process
with a repeated --certificate=FAMILIES/LEVEL[/BOUND[/NBOUNDS]]. Inputs are
checked before TensorFlow loads, and the model against the images before
any image is certified; bad ones give one line and exit 2. A killed run
continues from the images its CSVs already hold.
"""

import os

from absl import flags

from csam_tf.core import atomic_io, cli
from csam_tf.certify import image_source, model_file, setting_flags
from csam_tf.certify import resume as certify_resume
from csam_tf.transforms import flags as _transform_flags  # noqa: F401 (--transform)
from csam_tf.transforms import plugin
from csam_tf.transforms import ranges as transform_ranges
from csam_tf.certify.config import (CERTIFICATE_SPELLING, CertifyConfig,
                                    parse_certificate)
from csam_tf.data.config import DataConfig, check_data_available
from csam_tf.core.errors import UsageError
from csam_tf.core import workdir as workdir_lib

PROG = "csam_tf.certify"
MODEL_FILES = workdir_lib.MODEL_FILES
MAKES_FILE = {"dense": "pretrain", "pruned": "finetune", "tflite": "export"}

flags.DEFINE_string("workdir", None, "Workdir of a csam_tf.train run "
                    "(or certify a model file: --model=PATH --data=...).")
flags.DEFINE_string("model", "pruned", "With --workdir: dense (stage 1), "
                    "pruned (stage 3) or tflite (the exported float32 "
                    ".tflite through ai-edge-litert). Without: the path of a "
                    ".tflite, .keras or .h5 file or a SavedModel folder.")
flags.DEFINE_string("data", "", "With --model=PATH: a dataset name ("
                    "fashion_mnist, cifar10, ...; its --split), an image "
                    "folder (class/*.png|jpg, classes numbered in sorted "
                    "order) or a .npz with arrays images (NHWC, uint8 or "
                    "float in [0, 1]) and labels.")
flags.DEFINE_integer("image_size", 0, "With --model=PATH: resize the "
                     "images to this square size (0 = the model's input "
                     "size).", lower_bound=0)
flags.DEFINE_enum("outputs", "auto", model_file.OUTPUTS, "With "
                  "--model=PATH: whether the model outputs logits or "
                  "softmax probabilities (auto: read from its outputs).")
flags.DEFINE_string("out", "", "With --model=PATH: where the CSVs, table "
                    "and report.json go (default: PATH without its "
                    "extension, e.g. model_tflite_certify); the same "
                    "command resumes there.")
setting_flags.define("", num_images=1000)
flags.DEFINE_multi_string("certificate", [], "Several certificates in one "
                          "process (TensorFlow starts once), each "
                          f"{CERTIFICATE_SPELLING}; BOUND and NBOUNDS "
                          "default to --bound and --nbounds. Repeat the "
                          "flag; replaces --families and --levels.")
flags.DEFINE_integer("seed", None, "Seed of the sampled transformations "
                     "(default: the run's --seed, from its flags.json).",
                     lower_bound=0)

FLAGS = flags.FLAGS


def check_inputs():
  """Everything that can be checked without TensorFlow."""
  if FLAGS.transform and FLAGS["families"].present:
    raise UsageError("--transform and --families both name what to "
                     "certify: keep one")
  if not FLAGS.workdir:
    return check_file_inputs()
  for name in ("data", "image_size", "outputs", "out"):
    if FLAGS[name].present:
      raise UsageError(f"--{name} goes with --model=PATH; a --workdir run "
                       f"certifies on its own data")
  if FLAGS.model not in MODEL_FILES:
    raise UsageError(f"--model={FLAGS.model}: with --workdir choose "
                     f"{', '.join(MODEL_FILES)} (a model file goes without "
                     f"--workdir)")
  jobs = requested_certificates()
  run_flags = atomic_io.read_json(
      os.path.join(FLAGS.workdir, workdir_lib.FLAGS_FILE))
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
                os.path.join(FLAGS.workdir, workdir_lib.CERTIFY_DIR),
                FLAGS.model, family, level, cfg.bound),
            certify_resume.csv_settings(
                cfg, family, level,
                transform_ranges.family_ranges(family, level), None),
            ignore=(certify_resume.MODEL_KEY,))  # checked once loaded
  return data_config, run_flags, cfgs


def check_file_inputs():
  """--model=PATH --data=...: the file, the data and the certificates,
  before TensorFlow loads."""
  if not FLAGS["model"].present:
    raise UsageError("give --model=PATH (a .tflite, .keras or .h5 file or a "
                     "SavedModel folder) and --data, or --workdir of a "
                     "csam_tf.train run")
  if FLAGS.model in MODEL_FILES and not os.path.exists(FLAGS.model):
    raise UsageError(f"--model={FLAGS.model} names a run's model: add "
                     f"--workdir")
  kind = model_file.check_path(FLAGS.model)
  if not FLAGS.data:
    raise UsageError(f"--model={FLAGS.model} needs --data: a dataset name, "
                     f"an image folder or a .npz file of images and labels")
  source = image_source.check(FLAGS.data)
  jobs = requested_certificates()
  out = FLAGS.out or file_out_dir(FLAGS.model)
  try:
    os.makedirs(out, exist_ok=True)
  except OSError as e:
    raise UsageError(f"--out={out} cannot be made ({e.strerror}): choose a "
                     f"folder you can write to") from None
  if not os.access(out, os.W_OK):
    raise UsageError(f"--out={out} is not writable: choose a folder you can "
                     f"write to")
  return kind, source, out, jobs


def file_out_dir(path: str) -> str:
  """model.tflite -> model_tflite_certify (beside the model; a .keras and
  its .tflite get a folder each)."""
  stem, extension = os.path.splitext(os.path.normpath(path))
  return f"{stem}{extension.replace('.', '_')}_certify"


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
  seed = FLAGS.seed if FLAGS.seed is not None else (run_flags or {}).get(
      "seed", 0)
  return setting_flags.config("", seed, families=families, levels=levels,
                              bound=bound, nbounds=nbounds)


def certify_file(kind, source, out, jobs):
  """--model=PATH: load, check the model against the images, certify into
  `out`, write out/report.json."""
  import keras_cv  # noqa: F401  (Keras 3 before tfmot)
  from csam_tf.certify import run as certify_run
  from csam_tf.export import LiteRTModel
  cfgs = [certify_config(None, *job) for job in jobs]
  try:
    predict, shape, classes = model_file.load(FLAGS.model, kind,
                                              LiteRTModel)
    target = ((FLAGS.image_size, FLAGS.image_size, shape[-1])
              if FLAGS.image_size else shape)
    images, labels = image_source.load(FLAGS.data, source, FLAGS.split,
                                       FLAGS.num_images, target,
                                       resize_arrays=FLAGS.image_size > 0)
    model_file.check_fits(FLAGS.model, shape, classes, images, labels)
    if model_file.output_kind(FLAGS.model, predict(images[:8]),
                              FLAGS.outputs) == "probabilities":
      predict = model_file.FromProbabilities(predict)
    for cfg in cfgs:
      plugin.load_checked(cfg.families, images.shape[1:], cfg.levels)
    results = certify_run.certify_jobs({"model": predict}, images, labels,
                                       cfgs, out)
  except (UsageError, plugin.TransformError) as e:
    cli.fail(PROG, e)
  atomic_io.write_json(os.path.join(out, "report.json"), {
      "model": os.path.abspath(FLAGS.model), "data": FLAGS.data,
      "split": FLAGS.split if source == "dataset" else "",
      "images": int(len(images)), "certify": results})
  print(f"\nCSVs, plot and report.json: {out}", flush=True)


def main(argv):
  del argv
  if not FLAGS.workdir:
    certify_file(*cli.checked_start(PROG, check_inputs))
    return
  data_config, run_flags, cfgs = cli.checked_start(PROG, check_inputs)
  import keras_cv  # noqa: F401  (Keras 3 before tfmot)
  import tf_keras
  from csam_tf.core import run_report
  from csam_tf.certify import run as certify_run
  from csam_tf.certify import certificate as certify_certificate
  from csam_tf.certify import predictors as certify_predictors
  from csam_tf.data import pipeline
  from csam_tf.export import LiteRTModel
  data = pipeline.load(data_config)
  images, labels = certify_certificate.first_images(data, FLAGS.num_images,
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
    predict = certify_predictors.KerasPredictor(
        tf_keras.models.load_model(path, compile=False), images.shape[1:])
  try:
    results = certify_run.certify_jobs(
        {FLAGS.model: predict}, images, labels, cfgs,
        os.path.join(FLAGS.workdir, workdir_lib.CERTIFY_DIR))
  except UsageError as e:  # a CSV of another model: before any image
    cli.fail(PROG, e)
  merged = dict(run_report.stage_metrics(FLAGS.workdir, "certify") or {})
  merged.update(results)
  run_report.update_stage(FLAGS.workdir, "certify", merged, run_flags)


if __name__ == "__main__":
  cli.run(main, PROG, resumes=True)
