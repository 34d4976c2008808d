"""`python -m csam_tf.train --flagfile=configs/<x>.cfg`: the whole pipeline.

Flags are parsed and every input is checked before TensorFlow is imported,
so a mistake costs a second, prints one line and exits 2 without touching
the workdir. Stages run in pipeline order; a finished stage is skipped when
the command is run again, an interrupted one resumes from its checkpoint.
"""

import os

from absl import flags

from csam_tf import cli, distribute
from csam_tf import workdir as workdir_lib
from csam_tf.data import flags as data_flags
from csam_tf.data.config import check_data_available
from csam_tf.errors import RunError, UsageError
from csam_tf.models import flags as model_flags
from csam_tf.models import init_model
from csam_tf.transforms import plugin
from csam_tf.certify import flags as certify_flags
from trainers import finetune_flags, mask_search_flags, pretrain_flags

STAGES = ("pretrain", "mask", "finetune", "export", "certify")  # in order
# What a stage reads from an earlier one: (that stage, file in the workdir).
STAGE_INPUTS = {"mask": ("pretrain", "pretrain/best.weights.h5"),
                "finetune": ("mask", "mask/binary_masks.npz"),
                "export": ("finetune", "finetune/model.keras"),
                "certify": ("pretrain", "pretrain/best.weights.h5")}

flags.DEFINE_string("workdir", None, "Folder of the run: checkpoints, "
                    "TensorBoard logs, exported models, report.json.")
flags.DEFINE_list("stages", list(STAGES), "Comma list of stages to run, "
                  f"from {', '.join(STAGES)}.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation, data order and "
                     "transformations.", lower_bound=0)
flags.DEFINE_boolean("deterministic", True, "TensorFlow op determinism: the "
                     "same flags and seed give the same weights.")
flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES,
                  "tf.distribute strategy of every stage: default (one "
                  "device), mirrored (this machine's devices) or "
                  "multi_worker (the cluster in TF_CONFIG; README).")
flags.DEFINE_integer("cpu_replicas", 0, "--strategy=mirrored on a CPU-only "
                     "machine: split the CPU into this many replicas.",
                     lower_bound=0)

FLAGS = flags.FLAGS
PROG = "csam_tf.train"
# Flags that may change between invocations on one workdir: they choose what
# to run or where inputs live, not what a stage computes.
FREE_FLAGS = ("workdir", "stages", "data_dir", "tfds_manual_dir",
              "tfds_download", "eval_batch_size", "strategy", "cpu_replicas",
              "cert_restart", "cert_batch_size", "log_tf", "mask_log_every")
_OWN_PACKAGES = ("csam_tf", "trainers")
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_OWN_DIRS = tuple(os.path.join(_REPO_ROOT, p) + os.sep for p in _OWN_PACKAGES)


@flags.validator("stages", message=f"--stages takes names from "
                 f"{', '.join(STAGES)}, e.g. --stages=pretrain,mask")
def _known_stages(stages):
  return bool(stages) and all(stage in STAGES for stage in stages)


def run_flags():
  """Values of the project's own flags: what report.json and the workdir
  record (absl's and TensorFlow's own flags are left out)."""
  values = {}
  for module, module_flags in FLAGS.flags_by_module_dict().items():
    # absl names a module by its dotted name, or by its path when it runs
    # as __main__ (python -m csam_tf.train).
    if (module.split(".")[0] in _OWN_PACKAGES or
        os.path.abspath(module).startswith(_OWN_DIRS)):
      for flag in module_flags:
        values[flag.name] = flag.value
  return dict(sorted(values.items()))


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
  workdir_lib.check_compatible(FLAGS.workdir, run_flags(), FREE_FLAGS)
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
  from csam_tf import pipeline_stages  # imports Keras 3, keras-cv, tfmot
  worker = distribute.cluster(FLAGS.strategy)
  if worker[0] == 0:
    workdir_lib.record(FLAGS.workdir, run_flags())
  pipeline_stages.run(
      distribute.seed_private_copy(FLAGS.workdir, worker[0]),
      [s for s in STAGES if s in FLAGS.stages],
      pipeline_stages.RunConfig(
          seed=FLAGS.seed, deterministic=FLAGS.deterministic,
          data=data_flags.data_config(), arch=FLAGS.arch,
          width_multiplier=FLAGS.width_multiplier,
          init_model=FLAGS.init_model, vit=model_flags.vit_config(),
          pretrain=pretrain_flags.pretrain_config(),
          mask=mask_search_flags.mask_search_config(),
          finetune=finetune_flags.finetune_config(),
          certify=certify_flags.certify_config(),
          run_flags=run_flags(), strategy=FLAGS.strategy,
          cpu_replicas=FLAGS.cpu_replicas, worker=worker,
          chief_workdir=FLAGS.workdir), strategy)
  distribute.remove_private_copy(FLAGS.workdir, worker[0])
  if worker[0] == 0:
    from csam_tf import summary  # pylint: disable=import-outside-toplevel
    print("\n" + summary.summary_text(FLAGS.workdir), flush=True)


def entry_point():
  cli.run(main, PROG, resumes=True)


if __name__ == "__main__":
  entry_point()
