"""Stage 3: fine-tune the weights under the binary masks of stage 2.

Unstructured masks go into tfmot `PruneLowMagnitude` wrappers that never
recompute them (csam_tf.masking.tfmot_bridge), trained with stage 1's
cross-entropy trainer and tfmot's step callback, then `strip_pruning`. Channel gates have
no tfmot wrapper: they stay fixed in the gated BatchNorms while every weight
trains, and are folded into plain BatchNorms at the end, then the closed
channels are removed: the saved model is physically narrower (its gated
parent is kept beside it). Either way the result is a plain tf_keras model:
what export and certification use.

`pruning=polynomial_decay` is the `magnitude` baseline instead: no stage 2,
tfmot's own PolynomialDecay schedule ramps magnitude sparsity up during the
same fine-tuning budget (optionally with SAM updates, `sam_rho`).
"""

import os
import time
from typing import Any, Dict, Tuple

import numpy as np
import tf_keras

from csam_tf.core import atomic_io
from csam_tf.masking import tfmot_bridge
from csam_tf.data.pipeline import Augment, DataBundle
from csam_tf.core.errors import RunError
from csam_tf.core import workdir as workdir_lib
from csam_tf.masking import masked_model
from csam_tf.masking.mask_layers import masked_layers
from csam_tf.models import copy_model
from csam_tf.masking.recalibrate import (batchnorm_layers,
                                         recalibrate_batchnorm)
from csam_tf.structured import dependency_graph, flops, surgery, transformer
from trainers.finetune_config import FinetuneConfig
from trainers.cross_entropy import (CrossEntropyTrainer, compile_trainer,
                                    cross_entropy_trainer)
from trainers.pretrain import (evaluate_splits, make_optimizer,
                               objective_record)
from trainers.ratio_finetune import RatioFinetuneTrainer
from trainers.pretrain_config import PretrainConfig
from trainers.resumable_fit import resumable_fit, resume_record
from trainers.robust import RobustTrainer

STAGE = "finetune"
NARROW_TOLERANCE = 1e-4   # max |logit difference| narrow vs gated


def measured_sparsity(model: tf_keras.Model, layer_names,
                      granularity: str = "unstructured") -> Dict[str, Any]:
  """Fraction of exactly-zero weights (unstructured: kernel entries;
  channel: BatchNorm channels with gamma = beta = 0, a transformer's heads
  and MLP channels whose rows in the Dense reading them are zero), overall
  and per masked layer, read from the weights themselves (not from the
  target)."""
  per_layer, zeros, total = {}, 0, 0
  units = ({g.gate: g for g in transformer.unit_groups(model)}
           if granularity == "channel" else {})
  for name in layer_names:
    weights = model.get_layer(name).get_weights()
    if name in units:  # rows the gate zeroed
      group = units[name]
      rows = model.get_layer(group.consumers[0]).get_weights()[0]
      pruned = np.all(rows.reshape(group.size, -1) == 0, axis=1)
    elif granularity == "channel":
      pruned = (weights[0] == 0) & (weights[1] == 0)  # gamma, beta
    else:
      pruned = weights[0] == 0
    per_layer[name] = float(np.mean(pruned))
    zeros, total = zeros + int(np.sum(pruned)), total + pruned.size
  return {"overall": zeros / total, "per_layer": per_layer,
          "zero_weights": zeros, "prunable_weights": total}


def whole_model_sparsity(model: tf_keras.Model) -> float:
  """Fraction of exactly-zero entries over every conv and dense kernel,
  the layers kept whole included (PROTOCOL.md reports it beside the
  pruned layers' sparsity)."""
  zeros = total = 0
  for layer in model.layers:
    kernel = getattr(layer, "depthwise_kernel", None)
    if kernel is None:
      kernel = getattr(layer, "kernel", None)
    if kernel is not None:
      values = kernel.numpy()
      zeros, total = zeros + int(np.sum(values == 0)), total + values.size
  return zeros / max(total, 1)


def gated_network(network: tf_keras.Model, gates) -> tf_keras.Model:
  """Channel mode's fine-tuning model: `network` with a fixed gate after
  each prunable group's BatchNorms (`gates`: first BatchNorm's name -> 0/1
  vector; groups not named stay open) and every weight trainable."""
  gated = masked_model.to_masked_model(network, "channel", "ones",
                                       train_weights=True)
  owners = {layer.name for layer in masked_layers(gated)}
  for name in sorted(set(gates) - owners):
    raise ValueError(f"{name!r} does not gate a prunable channel group (the "
                     f"gates are keyed by each group's first BatchNorm: "
                     f"{', '.join(sorted(owners))})")
  for layer in masked_layers(gated):
    if layer.name in gates:
      layer.soft_mask.assign(np.reshape(gates[layer.name], [-1]))
  return gated


def remove_closed_channels(gated: tf_keras.Model, gates, dense, images
                           ) -> Tuple[tf_keras.Model, Dict[str, Any]]:
  """Channel mode: the physically narrower model (csam_tf.structured) of a
  folded gated model, checked against it on `images` (the stage uses a
  validation batch)."""
  if transformer.is_transformer(gated):
    return _remove_closed_units(gated, gates, dense, images)
  graph = dependency_graph.channel_graph(gated)
  narrow = surgery.narrow_model(gated, graph,
                                surgery.keep_from_gates(graph, gates))
  difference = _checked_difference(narrow, gated, images)
  prunable = graph.prunable_groups()
  kept = sum(int(np.sum(np.asarray(gates[g.batchnorms[0]]) > 0))
             for g in prunable)
  total = sum(g.size for g in prunable)
  return narrow, {
      "channel_groups": len(prunable),
      "channels_removed_fraction": 1.0 - kept / total,
      **_narrow_figures(dense, narrow, difference),
  }


def _narrow_figures(dense, narrow, difference) -> Dict[str, Any]:
  """Parameters and FLOPs dense vs narrow, and the logit check."""
  return {
      "parameters_dense": int(dense.count_params()),
      "parameters_pruned": int(narrow.count_params()),
      "flops_dense": flops.model_flops(dense),
      "flops_pruned": flops.model_flops(narrow),
      "narrow_vs_gated_max_abs_logit_diff": difference,
      "gated_model": workdir_lib.FINETUNE_GATED_MODEL,
  }


def _checked_difference(narrow, gated, images) -> float:
  """Max |logit difference| of the narrow model and its gated parent; a
  RunError beyond NARROW_TOLERANCE."""
  difference = float(np.max(np.abs(
      narrow(images, training=False).numpy() -
      gated(images, training=False).numpy())))
  if difference > NARROW_TOLERANCE:
    raise RunError(f"the narrow model differs from its gated parent by "
                   f"{difference:.2e} > {NARROW_TOLERANCE:g} in logits; "
                   f"channel removal is unsafe for this graph")
  return difference


def _remove_closed_units(gated, gates, dense, images):
  """remove_closed_channels for a transformer: closed heads and MLP
  channels (csam_tf.structured.transformer)."""
  groups = transformer.unit_groups(gated)
  keep = {g.gate: np.asarray(gates[g.gate]).reshape(-1) > 0
          for g in groups if g.gate in gates}
  narrow = transformer.narrow_model(gated, groups, keep)
  difference = _checked_difference(narrow, gated, images)
  removed = {}
  for kind in (transformer.HEADS, transformer.MLP):
    sizes = [(g.size, int(np.sum(keep[g.gate]))) for g in groups
             if g.kind == kind and g.gate in keep]
    if sizes:
      removed[f"{kind}_removed_fraction"] = 1.0 - (
          sum(k for _, k in sizes) / sum(n for n, _ in sizes))
  return narrow, {
      "channel_groups": len(keep),
      "channels_removed_fraction": 1.0 - (
          sum(int(np.sum(k)) for k in keep.values()) /
          sum(len(k) for k in keep.values())),
      **removed,
      **_narrow_figures(dense, narrow, difference),
  }


def _pruned_model(network, masks, cfg, total_steps):
  """(trainable pruned model, callbacks, strip function)."""
  if cfg.pruning == "polynomial_decay":
    if cfg.granularity != "unstructured":
      raise ValueError("polynomial_decay prunes weights, not channels: use "
                       "--granularity=unstructured")
    targets = {name: cfg.sparsity for name in masks}
    if cfg.binarize == "global":  # the same allocation as the masks
      targets = tfmot_bridge.global_magnitude_sparsities(network, masks,
                                                         cfg.sparsity)
    pruned = tfmot_bridge.prune_low_magnitude(network, masks, {
        name: tfmot_bridge.polynomial_decay_schedule(
            target, total_steps, cfg.polynomial_decay_end,
            cfg.polynomial_decay_frequency)
        for name, target in targets.items()})
    return pruned, [tfmot_bridge.update_step_callback()], tfmot_bridge.strip
  if cfg.granularity == "channel":
    return gated_network(network, masks), [], masked_model.fold_channel_gates
  pruned = tfmot_bridge.prune_with_fixed_masks(network, masks, cfg.sparsity)
  return pruned, [tfmot_bridge.update_step_callback()], tfmot_bridge.strip


def recalibrate_under_masks(pruned, network, masks, cfg, images) -> int:
  """Re-estimates `pruned`'s BatchNorm statistics under its fixed masks.
  tfmot's wrappers refuse a training-mode call outside `fit` (no pruning
  step yet), so unstructured masks are applied to a plain copy of the
  network, and its statistics are copied over by layer name."""
  if cfg.granularity == "channel":
    return recalibrate_batchnorm(pruned, images,
                                 batches=cfg.recalibration_batches)
  plain = copy_model(network)
  for name, mask in masks.items():
    layer = plain.get_layer(name)
    weights = layer.get_weights()
    layer.set_weights([weights[0] * mask] + weights[1:])
  used = recalibrate_batchnorm(plain, images,
                               batches=cfg.recalibration_batches)
  for layer in batchnorm_layers(plain):
    target = pruned.get_layer(layer.name)
    target.moving_mean.assign(layer.moving_mean)
    target.moving_variance.assign(layer.moving_variance)
  return used


def finetune_trainer(pruned: tf_keras.Model, cfg: FinetuneConfig, seed: int,
                     total_steps: int) -> tf_keras.Model:
  """The trainer of the fine-tuning objective `cfg` names: robust,
  cross-entropy + the ratio term, SAM or plain cross-entropy."""
  if cfg.objective == "robust":
    return RobustTrainer(pruned, cfg.robust, seed, total_steps)
  if cfg.ratio_weight > 0:
    return RatioFinetuneTrainer(pruned, cfg.ratio_weight, cfg.eta,
                                cfg.ratio_clip, cfg.family, cfg.level, seed)
  return cross_entropy_trainer(pruned, cfg.sam_rho)


def run_finetune(network: tf_keras.Model, masks, data: DataBundle,
                 cfg: FinetuneConfig, workdir: str, seed: int,
                 augment: Augment = None, callbacks=()):
  """Returns (stripped model, metrics); `network` (dense) is not changed.

  `masks` maps layer name -> fixed binary mask (`fixed_masks`), or lists
  the layers tfmot prunes by magnitude (`polynomial_decay`).
  """
  start = time.time()
  steps_per_epoch = data.steps_per_epoch(cfg.steps_per_epoch)
  pruned, stage_callbacks, strip = _pruned_model(
      network, masks, cfg, cfg.epochs * steps_per_epoch)
  recalibrated = 0
  if cfg.pruning == "fixed_masks":
    # Fine-tuning starts from the network stage 2 judged: BatchNorm
    # statistics re-estimated under the masks (a resumed run restores its
    # checkpoint's statistics over these).
    recalibrated = recalibrate_under_masks(pruned, network, masks, cfg,
                                           data.train(seed))
  trainer = finetune_trainer(pruned, cfg, seed,
                             cfg.epochs * steps_per_epoch)
  if cfg.objective == "robust":
    augment = None  # the views are the augmentation
  optimizer = make_optimizer(PretrainConfig(
      epochs=cfg.epochs, optimizer=cfg.optimizer,
      learning_rate=cfg.learning_rate, momentum=cfg.momentum,
      weight_decay=cfg.weight_decay), steps_per_epoch)
  compile_trainer(trainer, optimizer)
  optimizer.build(pruned.trainable_variables)
  best_path = os.path.join(workdir, workdir_lib.FINETUNE_WEIGHTS)
  best = resumable_fit(
      STAGE, trainer, {"network": pruned, "optimizer": optimizer}, data,
      seed, cfg.epochs, workdir, save_best=pruned.save_weights,
      best_path=best_path, augment=augment, max_steps=cfg.steps_per_epoch,
      callbacks=[*stage_callbacks, *callbacks])
  pruned.load_weights(best_path)
  stripped = strip(pruned)
  sparsity = measured_sparsity(stripped, masks, cfg.granularity)
  removal = {}
  if cfg.granularity == "channel":
    atomic_io.write_atomically(
        os.path.join(workdir, workdir_lib.FINETUNE_GATED_MODEL),
        stripped.save,
        suffix=".keras")
    stripped, removal = remove_closed_channels(
        stripped, masks, network, next(iter(data.evaluation("validation")))[0])
  atomic_io.write_atomically(os.path.join(workdir, workdir_lib.FINETUNE_MODEL),
                             stripped.save, suffix=".keras")
  evaluator = CrossEntropyTrainer(stripped)
  evaluator.compile()
  return stripped, {
      "epochs": cfg.epochs,
      "steps_per_epoch": steps_per_epoch,
      "best_epoch": best["best_epoch"],
      "last_epoch_logs": best["last_epoch_logs"],
      **resume_record(best),
      **evaluate_splits(evaluator, data),
      "granularity": cfg.granularity,
      "pruning": cfg.pruning,
      "sam_rho": cfg.sam_rho,
      "ratio_weight": cfg.ratio_weight,
      **objective_record(cfg.objective, cfg.robust),
      "target_sparsity": cfg.sparsity,
      "sparsity": sparsity["overall"],
      "sparsity_whole_model": whole_model_sparsity(stripped),
      "batchnorm_recalibration_batches": recalibrated,
      "sparsity_per_layer": sparsity["per_layer"],
      "zero_weights": sparsity["zero_weights"],
      "prunable_weights": sparsity["prunable_weights"],
      "model": workdir_lib.FINETUNE_MODEL,
      **removal,
      "wall_seconds_this_invocation": round(time.time() - start, 1),
  }
