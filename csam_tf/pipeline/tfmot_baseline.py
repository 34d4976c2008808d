"""tfmot as users run it, beside a run (`--tfmot_baseline`): the run's own
dense model pruned by tfmot's layer-wise gradual magnitude schedule under
cross-entropy fine-tuning, for the run's fine-tuning steps, and certified
on the run's images and transformations, in <workdir>/tfmot_baseline, so
the summary can say what the run bought against it on the same model."""

import dataclasses
import os

from csam_tf.core import shared_pretrain
from csam_tf.core import workdir as workdir_lib
from csam_tf.pipeline import stages as pipeline_stages

STAGES = ("finetune", "certify")
# What makes the fine-tuning tfmot's as users run it (flags of the run).
TFMOT_FLAGS = {"finetune_pruning": "polynomial_decay",
               "finetune_objective": "ce", "binarize": "layerwise",
               "finetune_ratio_weight": 0.0, "finetune_sam_rho": 0.0,
               "cert_models": ["pruned"], "tfmot_baseline": False,
               "stages": list(STAGES)}


def baseline_config(cfg: pipeline_stages.RunConfig, workdir: str
                    ) -> pipeline_stages.RunConfig:
  """`cfg` with tfmot's fine-tuning in place of the run's (the same
  steps, learning rate, data, seed and certificate; the pruned model
  certified only: the dense one is the run's), recorded as a run in
  `workdir`."""
  finetune = dataclasses.replace(
      cfg.finetune, pruning="polynomial_decay", objective="ce",
      binarize="layerwise", ratio_weight=0.0, sam_rho=0.0)
  return dataclasses.replace(
      cfg, finetune=finetune,
      certify=dataclasses.replace(cfg.certify, models=("pruned",)),
      run_flags={**cfg.run_flags, **TFMOT_FLAGS, "workdir": workdir})


def run(workdir: str, cfg: pipeline_stages.RunConfig, strategy) -> str:
  """Runs (or resumes) the baseline from `workdir`'s dense model; returns
  its workdir."""
  target = os.path.join(workdir, workdir_lib.TFMOT_BASELINE_DIR)
  shared_pretrain.share(workdir, target, (workdir_lib.PRETRAIN_WEIGHTS,),
                        workdir)
  print(f"\ntfmot as users run it, from the same dense model: {target}",
        flush=True)
  baseline = baseline_config(cfg, target)
  workdir_lib.record(target, baseline.run_flags)
  pipeline_stages.run(target, STAGES, baseline, strategy)
  return target
