"""`python -m csam_tf.train --flagfile=configs/<x>.cfg`: the whole pipeline.

Flags are parsed and every input is checked before TensorFlow is imported,
so a mistake costs a second, prints one line and exits 2 without touching
the workdir. Stages run in pipeline order; a finished stage is skipped when
the command is run again, an interrupted one resumes from its checkpoint.
"""

import os

from absl import flags

from csam_tf.core import cli
from csam_tf.core import workdir as workdir_lib
from csam_tf.core.errors import RunError, UsageError
from csam_tf.data import flags as data_flags
from csam_tf.data.config import check_data_available
from csam_tf.models import flags as model_flags
from csam_tf.models import init_model
from csam_tf.transforms import plugin
from csam_tf.certify import flags as certify_flags
from csam_tf.pipeline import distribute, pipeline_flags
from trainers import finetune_flags, mask_search_flags, pretrain_flags

# What a stage reads from an earlier one: (that stage, file in the workdir).
STAGE_INPUTS = {"mask": ("pretrain", workdir_lib.PRETRAIN_WEIGHTS),
                "finetune": ("mask", workdir_lib.BINARY_MASKS),
                "export": ("finetune", workdir_lib.FINETUNE_MODEL),
                "certify": ("pretrain", workdir_lib.PRETRAIN_WEIGHTS)}
STAGES = workdir_lib.STAGES
FLAGS = flags.FLAGS
PROG = "csam_tf.train"


def check_inputs():
  """Everything that can be checked without TensorFlow."""
  if not FLAGS.workdir:
    raise UsageError("--workdir is required: the folder for checkpoints, "
                     "logs and report.json")
  workdir_lib.check_writable(FLAGS.workdir)
  distribute.cluster(FLAGS.strategy)  # TF_CONFIG, when multi_worker
  check_data_available(data_flags.data_config())
  if FLAGS.init_model:
    init_model.check_path(FLAGS.init_model)
  both = [f"--{name}" for name in ("augment_family", "mask_family",
                                   "cert_families") if FLAGS[name].present]
  if FLAGS.transform and both:
    raise UsageError(f"--transform sets the transformation of every stage; "
                     f"drop {', '.join(both)} or --transform")
  specs = {FLAGS.transform} | {FLAGS.augment_family, FLAGS.mask_family,
                               *FLAGS.cert_families}
  for spec in sorted(s for s in specs if s and plugin.is_plugin(s)):
    try:  # imports it; its probe run waits for the data's image shape
      plugin.load(spec)
    except plugin.TransformError as e:
      raise UsageError(str(e)) from None
  workdir_lib.check_compatible(FLAGS.workdir, pipeline_flags.run_flags(),
                                pipeline_flags.FREE_FLAGS)
  _check_stage_inputs()


def _check_stage_inputs():
  """A stage whose input is neither on disk nor made earlier in this run
  cannot start: say which stage to run first."""
  for stage in FLAGS.stages:
    if stage not in STAGE_INPUTS:
      continue
    previous, needed = STAGE_INPUTS[stage]
    if stage == "finetune" and FLAGS.finetune_pruning == "polynomial_decay":
      previous, needed = STAGE_INPUTS["mask"]  # prunes the dense model
    if previous not in FLAGS.stages and not os.path.exists(
        os.path.join(FLAGS.workdir, needed)):
      raise UsageError(f"stage {stage} needs {needed} from stage {previous}, "
                       f"which --workdir={FLAGS.workdir} does not have: add "
                       f"{previous} to --stages")
  if (FLAGS.tfmot_baseline and "pretrain" not in FLAGS.stages and
      not os.path.exists(os.path.join(FLAGS.workdir,
                                      workdir_lib.PRETRAIN_WEIGHTS))):
    raise UsageError(f"--tfmot_baseline prunes the run's dense model "
                     f"({workdir_lib.PRETRAIN_WEIGHTS}), which "
                     f"--workdir={FLAGS.workdir} does not have: add pretrain "
                     f"to --stages")


def main(argv):
  del argv
  cli.checked_start(PROG, check_inputs)
  try:
    _run_stages()
  except UsageError as e:
    cli.fail(PROG, e)
  except RunError as e:
    cli.fail(PROG, e, exit_code=1)


def _run_stages():
  # The strategy comes first: logical CPU devices and the multi-worker
  # runtime must be set up before anything else touches TensorFlow.
  strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.cpu_replicas)
  # (imports Keras 3, keras-cv, tfmot)
  from csam_tf.pipeline import stages as pipeline_stages  # pylint: disable=C0415
  worker = distribute.cluster(FLAGS.strategy)
  search = mask_search_flags.mask_search_config()
  if worker[0] == 0:
    workdir_lib.record(FLAGS.workdir, pipeline_flags.run_flags())
  cfg = pipeline_stages.RunConfig(
      seed=FLAGS.seed, deterministic=FLAGS.deterministic,
      data=data_flags.data_config(), arch=FLAGS.arch,
      width_multiplier=FLAGS.width_multiplier,
      init_model=FLAGS.init_model, vit=model_flags.vit_config(),
      pretrain=pretrain_flags.pretrain_config(),
      mask=search,
      finetune=finetune_flags.finetune_config(search),
      certify=certify_flags.certify_config(FLAGS.seed),
      run_flags=pipeline_flags.run_flags(), strategy=FLAGS.strategy,
      cpu_replicas=FLAGS.cpu_replicas, worker=worker,
      chief_workdir=FLAGS.workdir)
  pipeline_stages.run(
      distribute.seed_private_copy(FLAGS.workdir, worker[0]),
      [s for s in STAGES if s in FLAGS.stages], cfg, strategy)
  distribute.remove_private_copy(FLAGS.workdir, worker[0])
  if FLAGS.tfmot_baseline:  # (one process: the flags' check)
    from csam_tf.pipeline import tfmot_baseline  # pylint: disable=C0415
    tfmot_baseline.run(FLAGS.workdir, cfg, strategy)
  if worker[0] == 0:
    from csam_tf.pipeline import run_summary  # pylint: disable=C0415
    print("\n" + run_summary.summary_text(FLAGS.workdir), flush=True)


def entry_point():
  """The `csam_tf.train` command (csam_tf/train.py, setup.py's
  csam-train)."""
  cli.run(main, PROG, resumes=True)
