"""The flags of `csam_tf.train`, and so of every flagfile under configs/:
the run's own (--workdir, --stages, --seed, ...) defined here, and every
layer's (data, models, transformations, the trainers, certification)
defined by importing the module that owns them. Importing this module is
how another command (csam_tf.bench) reads a pipeline flagfile."""

import os

from absl import flags

from csam_tf.core import workdir as workdir_lib
from csam_tf.data import flags as data_flags  # noqa: F401
from csam_tf.models import flags as model_flags  # noqa: F401
from csam_tf.certify import flags as certify_flags  # noqa: F401
from csam_tf.pipeline import distribute
from trainers import finetune_flags, mask_search_flags  # noqa: F401
from trainers import pretrain_flags  # noqa: F401

STAGES = workdir_lib.STAGES

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
flags.DEFINE_boolean("tfmot_baseline", False, "After the stages, prune the "
                     "same dense model as tfmot users do (layer-wise gradual "
                     "magnitude pruning to --sparsity, cross-entropy "
                     "fine-tuning for the same steps), certify it the same "
                     "way, in <workdir>/tfmot_baseline; the summary "
                     "compares the two.")

FLAGS = flags.FLAGS
# Flags that may change between invocations on one workdir: they choose what
# to run or where inputs live, not what a stage computes.
FREE_FLAGS = ("workdir", "stages", "data_dir", "tfds_manual_dir",
              "tfds_download", "eval_batch_size", "strategy", "cpu_replicas",
              "cert_restart", "cert_batch_size", "log_tf", "mask_log_every",
              "tfmot_baseline")
_OWN_PACKAGES = ("csam_tf", "trainers")
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_OWN_DIRS = tuple(os.path.join(_REPO_ROOT, p) + os.sep for p in _OWN_PACKAGES)


@flags.validator("stages", message=f"--stages takes names from "
                 f"{', '.join(STAGES)}, e.g. --stages=pretrain,mask")
def _known_stages(stages):
  return bool(stages) and all(stage in STAGES for stage in stages)


# Across stages: flags of fine-tuning checked against the mask search's.
@flags.multi_flags_validator(
    ["finetune_pruning", "granularity"],
    message="--finetune_pruning=polynomial_decay prunes single weights: use "
    "it with --granularity=unstructured")
def _decay_prunes_weights(values):
  return (values["finetune_pruning"] != "polynomial_decay" or
          values["granularity"] == "unstructured")


@flags.multi_flags_validator(
    ["tfmot_baseline", "granularity", "strategy"],
    message="--tfmot_baseline prunes single weights in one process: use it "
    "with --granularity=unstructured and without --strategy=multi_worker")
def _baseline_prunes_weights(values):
  return not values["tfmot_baseline"] or (
      values["granularity"] == "unstructured" and
      values["strategy"] != "multi_worker")


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
