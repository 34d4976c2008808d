"""Runs the requested stages in order on one workdir, recording each in
report.json; the CLI only parses flags and calls `run`.

A stage already complete in report.json is skipped and its outputs are
loaded from the workdir instead, so later stages can run alone.
"""

import dataclasses
import os
import time
from typing import Any, Dict, Sequence, Tuple

import tensorflow as tf
import tf_keras

from csam_tf import export
from csam_tf.core import run_report
from csam_tf.core import workdir as workdir_lib
from csam_tf.core.errors import RunError, UsageError
from csam_tf.certify import certificate as certify_certificate
from csam_tf.certify import predictors as certify_predictors
from csam_tf.certify import resume as certify_resume
from csam_tf.certify import run as certify_run
from csam_tf.certify import shards as certify_shards
from csam_tf.certify.config import CertifyConfig
from csam_tf.data import pipeline
from csam_tf.data.config import DataConfig
from csam_tf.masking import masked_model
from csam_tf.models import build_model, init_model
from csam_tf.models.vit_config import ViTConfig
from csam_tf.pipeline import distribute
from csam_tf.pipeline import plan as stage_plan
from csam_tf.transforms import plugin
from trainers import finetune, mask_stage, pretrain
from trainers.finetune_config import FinetuneConfig
from trainers.mask_search_config import MaskSearchConfig
from trainers.pretrain_config import PretrainConfig


# Stages that train under the distribution strategy; export and
# certification work on plain local copies of the models.
_TRAINING_STAGES = ("pretrain", "mask", "finetune")


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Everything a pipeline run needs besides the workdir."""
  seed: int
  deterministic: bool
  data: DataConfig
  arch: str
  width_multiplier: float
  pretrain: PretrainConfig
  mask: MaskSearchConfig
  finetune: FinetuneConfig
  certify: CertifyConfig
  run_flags: Dict[str, Any]
  strategy: str = "default"       # csam_tf.pipeline.distribute.STRATEGIES
  cpu_replicas: int = 0
  worker: Tuple[int, int] = (0, 1)  # (this worker, workers)
  chief_workdir: str = ""         # the real workdir (a worker writes a copy)
  init_model: str = ""            # the user's model instead of `arch`
  vit: ViTConfig = ViTConfig()    # the shape of `arch` vit


def run(workdir: str, stages: Sequence[str], cfg: RunConfig,
        strategy=None) -> Dict[str, Any]:
  """Runs `stages` (pipeline order); returns the updated report.

  Under a distribution strategy every stage runs inside its scope, on
  every worker; `workdir` is where this worker writes
  (csam_tf.pipeline.distribute).
  """
  strategy = strategy or distribute.make_strategy(cfg.strategy,
                                                  cfg.cpu_replicas)
  tf_keras.utils.set_random_seed(cfg.seed)
  if cfg.deterministic:
    tf.config.experimental.enable_op_determinism()
  data = pipeline.load(cfg.data)
  try:  # a plug-in transformation is checked before any stage starts
    plugin.load_checked([cfg.pretrain.augment_family],
                        data.input_shape, [cfg.pretrain.augment_level])
    plugin.load_checked([cfg.mask.family], data.input_shape, [cfg.mask.level])
    for stage_cfg in (cfg.pretrain, cfg.finetune):
      if stage_cfg.objective == "robust":
        plugin.load_checked([stage_cfg.robust.family], data.input_shape,
                            [stage_cfg.robust.level])
    plugin.load_checked(cfg.certify.families, data.input_shape,
                        cfg.certify.levels)
  except plugin.TransformError as e:
    raise UsageError(str(e)) from None
  with strategy.scope():
    network = _network(cfg, data)
  augment = pretrain.augment_from_config(cfg.pretrain)
  state = RunState(workdir, network, strategy)
  state.load_earlier_outputs(stages)
  pending = [s for s in stages if not (run_report.stage_metrics(workdir, s) or
                                       {}).get("complete")]
  print(stage_plan.plan_line(pending, cfg, data), flush=True)
  steps = stage_plan.training_steps(pending, cfg, data)
  first = next((s for s in pending if s in steps), None)
  if first:
    state.callbacks[first] = [stage_plan.FirstStepsEstimate(
        steps, first, stage_plan.stage_step_cost(first, cfg))]
  result = {}
  for stage in stages:
    done = run_report.stage_metrics(workdir, stage)
    if done is not None and done.get("complete"):
      print(f"{stage}: finished earlier (report.json); skipping", flush=True)
      state.load(stage)
      continue
    start = time.time()
    print(f"{stage}: starting", flush=True)
    if stage in _TRAINING_STAGES:
      with strategy.scope():
        metrics = _run_stage(stage, workdir, cfg, data, augment, state)
    else:
      metrics = _run_stage(stage, workdir, cfg, data, augment, state)
    if strategy.num_replicas_in_sync > 1:
      metrics["replicas"] = strategy.num_replicas_in_sync
      metrics["workers"] = cfg.worker[1]
    metrics.update(complete=True, wall_seconds=round(time.time() - start, 1))
    result = run_report.update_stage(workdir, stage, metrics, cfg.run_flags)
    print(f"{stage}: done in {metrics['wall_seconds']:.0f} s: " + ", ".join(
        f"{k} {v:.4f}" for k, v in _flat(metrics).items()
        if (k.endswith("accuracy") or k.endswith("sparsity")) and
        not k.startswith("last_epoch_logs")), flush=True)
  return result


def _network(cfg, data):
  """The built-in architecture, freshly initialised, or `--init_model`
  (checked against the data and for something to prune before any stage
  starts)."""
  if not cfg.init_model:
    try:
      return build_model(cfg.arch, data.input_shape, data.num_classes,
                         cfg.width_multiplier, cfg.vit)
    except ValueError as e:  # a shape the data cannot take
      raise UsageError(str(e)) from None
  network = init_model.load(cfg.init_model)
  init_model.check_against(network, cfg.init_model, data.input_shape,
                           data.num_classes)
  if not masked_model.prunable_layer_names(network):
    raise UsageError(f"--init_model={cfg.init_model} has no Conv2D, "
                     f"DepthwiseConv2D or Dense layer to prune besides the "
                     f"first conv and the classifier, which PROTOCOL.md "
                     f"keeps whole")
  return network


def _run_stage(stage, workdir, cfg, data, augment, state):
  extra = state.callbacks.get(stage, [])  # the first steps' estimate
  if stage == "pretrain":
    state.pretrained = True
    if cfg.init_model:
      return pretrain.import_model(state.network, data, workdir,
                                   cfg.init_model)
    return pretrain.run_pretrain(state.network, data, cfg.pretrain,
                                 workdir, cfg.seed, extra)
  if stage == "mask":
    return mask_stage.run_mask_search(state.network, data, cfg.mask,
                                      workdir, cfg.seed, extra)
  if stage == "finetune":
    if cfg.finetune.pruning == "polynomial_decay":
      masks = masked_model.prunable_layer_names(state.network)
    else:
      masks = mask_stage.load_masks(os.path.join(workdir,
                                                  workdir_lib.BINARY_MASKS))
    network = state.network
    affine = os.path.join(workdir, mask_stage.BATCHNORM_AFFINE)
    if cfg.finetune.pruning == "fixed_masks" and os.path.exists(affine):
      # --search_bn=batch_affine: gamma and beta as the search left them
      # (on a copy: the dense model is certified and exported as it is)
      network = mask_stage.with_batchnorm_affine(network, affine)
    state.pruned, metrics = finetune.run_finetune(
        network, masks, data, cfg.finetune, workdir, cfg.seed, augment,
        extra)
    return metrics
  if stage == "export":
    state.ensure_pretrained()
    return export.run_export(
        distribute.local_copy(state.pruned, state.strategy), data, workdir,
        sparse=cfg.mask.granularity == "unstructured",
        dense=distribute.local_copy(state.network, state.strategy))
  if stage == "certify":
    return _certify(workdir, cfg, data, state)
  raise ValueError(f"unknown stage {stage}")


def _certify(workdir, run_cfg: RunConfig, data, state):
  """PCA of the models `cfg.models` names: the dense one and, when stage 3
  has run, the pruned one; sharded across workers under multi_worker."""
  cfg = run_cfg.certify
  state.ensure_pretrained()
  if state.pruned is None and os.path.exists(
      os.path.join(workdir, workdir_lib.FINETUNE_MODEL)):
    state.load("finetune")
  images, labels = certify_certificate.first_images(data, cfg.num_images,
                                                    cfg.split)
  models = {"dense": state.network, "pruned": state.pruned}
  predictors = {
      name: certify_predictors.KerasPredictor(
          distribute.local_copy(models[name], state.strategy),
          images.shape[1:])
      for name in cfg.models if models[name] is not None}
  out_dir = os.path.join(workdir, workdir_lib.CERTIFY_DIR)
  index, count = run_cfg.worker
  if count > 1:  # each worker its share of the images, then the chief joins
    partial = certify_run.certify_models(predictors, images, labels, cfg,
                                         out_dir, shard=(index, count))
    distribute.barrier(state.strategy)  # every shard written
    if index == 0:
      certify_shards.merge_shards(
          [os.path.join(distribute.write_dir(run_cfg.chief_workdir, k),
                        workdir_lib.CERTIFY_DIR) for k in range(count)],
          out_dir,
          [certify_resume.certificate_key(name, plugin.load(family).name,
                                          level, cfg.bound)
           for name in predictors
           for family in cfg.families for level in cfg.levels])
    distribute.barrier(state.strategy)  # merged: workers may clean up
    if index != 0:
      return partial  # into this worker's private report
  return certify_run.certify_models(predictors, images, labels, cfg,
                                    out_dir)


@dataclasses.dataclass
class RunState:
  """The models the stages hand to each other in one invocation: the dense
  network (trained here, or its weights loaded from an earlier
  invocation's output), the pruned model once stage 3 ran or was loaded,
  the strategy they were built under, and the first training stage's
  time-estimate callback."""
  workdir: str
  network: Any
  strategy: Any
  pretrained: bool = False
  pruned: Any = None
  callbacks: Dict[str, list] = dataclasses.field(default_factory=dict)

  def load_earlier_outputs(self, stages: Sequence[str]) -> None:
    """Outputs of stages not requested now but already on disk (a shared
    pre-trained model, a finished fine-tuning): what the requested ones
    start from, e.g. `--stages=mask` on a workdir whose stage 1 is done."""
    for stage, path in (("pretrain", workdir_lib.PRETRAIN_WEIGHTS),
                        ("finetune", workdir_lib.FINETUNE_MODEL)):
      if stage not in stages and os.path.exists(
          os.path.join(self.workdir, path)):
        self.load(stage)

  def ensure_pretrained(self) -> None:
    if not self.pretrained:
      self.load("pretrain")

  def load(self, stage: str) -> None:
    """What a skipped stage hands to the next ones (a file that cannot be
    read is one line naming it, not a traceback)."""
    path = os.path.join(self.workdir, workdir_lib.PRETRAIN_WEIGHTS
                        if stage == "pretrain" else
                        workdir_lib.FINETUNE_MODEL)
    try:
      if stage == "pretrain":
        self.network.load_weights(path)
        self.pretrained = True
      elif stage == "finetune":
        self.pruned = tf_keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as e:
      raise RunError(f"{path} (the output of stage {stage}) cannot be "
                     f"read: {str(e).splitlines()[0]}; run stage {stage} "
                     f"again in a new --workdir") from None


def _flat(metrics, prefix=""):
  """{'int8': {'test_accuracy': x}} -> {'int8.test_accuracy': x}."""
  flat = {}
  for key, value in metrics.items():
    if isinstance(value, dict):
      flat.update(_flat(value, f"{prefix}{key}."))
    elif isinstance(value, float):
      flat[f"{prefix}{key}"] = value
  return flat
