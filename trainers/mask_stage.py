"""Stage 2 as a pipeline stage: make the binary masks with the chosen
method (C-SAM or a baseline), save soft and binary masks, evaluate them.

The algorithms live elsewhere: C-SAM's `train_step` in
trainers/mask_search.py, the baselines in trainers/baseline_masks.py.
"""

import os
import time
from typing import Any, Dict

import numpy as np
import tensorflow as tf
import tf_keras

from csam_tf.core import atomic_io
from csam_tf.core import workdir as workdir_lib
from csam_tf.data.pipeline import DataBundle
from csam_tf.masking.mask_layers import masked_layers
from csam_tf.models import copy_model
from csam_tf.masking.masked_model import (channel_group_scores,
                                          mask_variables, raw_magnitudes,
                                          tie_break_scores,
                                          to_masked_model)
from trainers import baseline_masks
from trainers.mask_search import (MaskSearchTrainer,
                                  RecalibrateBeforeValidation,
                                  batchnorm_affine)
from trainers.mask_search_config import MaskSearchConfig
from trainers.resumable_fit import resumable_fit, resume_record
from trainers.search_summaries import SearchSummaries

_TRAINERS = {"csam": MaskSearchTrainer,
             "score_ce": baseline_masks.ScoreCrossEntropyTrainer}

STAGE = "mask"
SOFT_MASKS = os.path.join(STAGE, "soft_masks.npz")
# --search_bn=batch_affine: gamma and beta learned with the best soft masks
BATCHNORM_AFFINE = os.path.join(STAGE, "batchnorm_affine.npz")


def save_masks(path: str, layers, masks) -> None:
  """Masks keyed by layer name, as .npz (written by the caller atomically)."""
  np.savez(path, **{layer.name: np.asarray(m) for layer, m in
                    zip(layers, masks)})


def load_masks(path: str) -> Dict[str, np.ndarray]:
  """Layer name -> mask array."""
  with np.load(path) as data:
    return {name: data[name] for name in data.files}


def save_batchnorm_affine(path: str, network: tf_keras.Model) -> None:
  """Every BatchNorm's gamma and beta, keyed <layer>/gamma, <layer>/beta."""
  np.savez(path, **{key: variable.numpy()
                    for key, variable in batchnorm_affine(network).items()})


def assign_batchnorm_affine(network: tf_keras.Model, path: str) -> None:
  """Sets `network`'s BatchNorm gamma and beta to those saved at `path`."""
  with np.load(path) as saved:
    for key, variable in batchnorm_affine(network).items():
      variable.assign(saved[key])


def with_batchnorm_affine(network: tf_keras.Model,
                          path: str) -> tf_keras.Model:
  """A copy of `network` with the gamma and beta saved at `path` (the
  mask search's, --search_bn=batch_affine); `network` is not changed."""
  copy = copy_model(network)
  assign_batchnorm_affine(copy, path)
  return copy


def _evaluate(trainer, dataset) -> Dict[str, float]:
  """The binary masks' metrics over the whole dataset, read from the
  trackers after `evaluate` (their values are synchronised across
  workers), every tracker included."""
  trainer.evaluate(dataset, verbose=0)
  return {m.name: float(m.result()) for m in trainer.metrics}


def mask_search_trainer(network: tf_keras.Model, cfg: MaskSearchConfig,
                        seed: int, total_steps: int, train_data=None):
  """The masked twin of `network` (left untouched) and the compiled
  trainer of its masks, with the Adam optimizer of a learned method's
  masks, or None for a one-shot method, whose masks are set to their
  binary values here (`taylor` reads `train_data`'s batches). What stage
  2 and `csam_tf.search_masks` run."""
  model = to_masked_model(network, cfg.granularity, cfg.mask_init, cfg.tau,
                          seed)
  masks = mask_variables(model)
  layers = masked_layers(model)
  if cfg.method in baseline_masks.ONE_SHOT_METHODS:
    if cfg.method == "taylor":
      scores = baseline_masks.taylor_scores(model, train_data,
                                            cfg.importance_batches)
    elif cfg.method in baseline_masks.CHANNEL_ONLY_METHODS:
      by_owner = channel_group_scores(network, cfg.method)
      scores = [by_owner[layer.name] for layer in layers]
    else:
      scores = tie_break_scores(model, normalize=not raw_magnitudes(cfg))
    hard = baseline_masks.one_shot_masks(
        cfg.method, scores, cfg.sparsity, cfg.binarize, seed)
    for mask, binary in zip(masks, hard):
      mask.assign(binary)
    trainer = baseline_masks.FixedMaskTrainer(model, cfg, seed)
    trainer.compile()
    return model, trainer, None
  trainer = _TRAINERS[cfg.method](model, cfg, seed, total_steps)
  optimizer = tf_keras.optimizers.Adam(cfg.learning_rate)
  trainer.compile(optimizer=optimizer)
  optimizer.build(trainer.learned_variables)
  return model, trainer, optimizer


def run_mask_search(network: tf_keras.Model, data: DataBundle,
                    cfg: MaskSearchConfig, workdir: str, seed: int,
                    callbacks=()) -> Dict[str, Any]:
  """Stage 2 on a copy of the pretrained `network` (left untouched).

  Learned methods (csam, score_ce) keep the soft masks whose binarisation
  validates best, and their binary masks; one-shot baselines (random,
  magnitude) binarise at once. Either way the binary masks are evaluated
  the same way: BatchNorm statistics re-estimated under them on training
  batches first (PROTOCOL.md), with `mask_moved` and `magnitude_overlap`
  saying how far the search moved from its start and from magnitude
  pruning.
  """
  start = time.time()
  # BatchNorm is re-estimated under a mask on these (training, never
  # augmented) batches before the mask is judged: PROTOCOL.md.
  calibration = lambda: data.train(seed)  # noqa: E731
  total_steps = cfg.epochs * data.steps_per_epoch(cfg.steps_per_epoch)
  model, trainer, optimizer = mask_search_trainer(network, cfg, seed,
                                                  total_steps, calibration())
  masks = mask_variables(model)
  layers = masked_layers(model)
  if optimizer is None:  # a one-shot method: the masks are binary already
    hard = [tf.convert_to_tensor(m) for m in masks]
    best = {"best_epoch": 0, "last_epoch_logs": {}, "resumed_after_epoch": 0}
  else:
    best_path = os.path.join(workdir, SOFT_MASKS)
    affine_path = os.path.join(workdir, BATCHNORM_AFFINE)
    learns_affine = cfg.search_bn == "batch_affine"

    def save_best(path):
      if learns_affine:  # first: the soft masks' file marks the best
        atomic_io.write_atomically(
            affine_path, lambda tmp: save_batchnorm_affine(tmp, model),
            suffix=".npz")
      save_masks(path, layers, masks)

    best = resumable_fit(
        STAGE,
        trainer, {
            "network": model,
            "optimizer": optimizer
        },
        data,
        seed,
        cfg.epochs,
        workdir,
        save_best=save_best,
        best_path=best_path,
        max_steps=cfg.steps_per_epoch,
        callbacks=[
            RecalibrateBeforeValidation(trainer, calibration),
            SearchSummaries(
                os.path.join(workdir, workdir_lib.TENSORBOARD, STAGE),
                cfg.log_every, layers), *callbacks
        ])
    soft = load_masks(best_path)
    for layer, mask in zip(layers, masks):
      mask.assign(soft[layer.name])
    if learns_affine:  # the best epoch's gamma and beta with its masks
      assign_batchnorm_affine(model, affine_path)
    hard = trainer.binarize([tf.convert_to_tensor(m) for m in masks])
  atomic_io.write_atomically(
      os.path.join(workdir, workdir_lib.BINARY_MASKS),
      lambda path: save_masks(path, layers, [h.numpy() for h in hard]),
      suffix=".npz")
  calibrated = trainer.recalibrate(calibration())
  val = _evaluate(trainer, data.evaluation("validation"))
  test = _evaluate(trainer, data.evaluation("test"))
  diagnostics = trainer.search_diagnostics()
  kept = sum(int(h.numpy().sum()) for h in hard)
  total = sum(h.shape.num_elements() for h in hard)
  return {
      "method": cfg.method,
      "granularity": cfg.granularity,
      "epochs": cfg.epochs,
      "steps_per_epoch": data.steps_per_epoch(cfg.steps_per_epoch),
      "best_epoch": best["best_epoch"],
      "last_epoch_logs": best["last_epoch_logs"],
      **resume_record(best),
      "binary_validation_accuracy": float(val["accuracy"]),
      "binary_test_accuracy": float(test["accuracy"]),
      "soft_binary_agreement_test": float(test["agreement"]),
      "mask_mean": float(test["mask_mean"]),
      "flip_fraction": float(test["flip_fraction"]),
      "binary_sparsity": 1.0 - kept / total,
      "search_bn": cfg.search_bn,
      **({"batchnorm_affine": BATCHNORM_AFFINE}
         if cfg.search_bn == "batch_affine" and optimizer is not None
         else {}),
      "batchnorm_recalibration_batches": calibrated,
      "mask_moved": diagnostics["mask_moved"],
      "magnitude_overlap": diagnostics["magnitude_overlap"],
      "magnitude_overlap_per_layer": diagnostics[
          "magnitude_overlap_per_layer"],
      "masked_layers": len(layers),
      "mask_entries": total,
      "soft_masks": SOFT_MASKS,
      "binary_masks": workdir_lib.BINARY_MASKS,
      "wall_seconds_this_invocation": round(time.time() - start, 1),
  }
