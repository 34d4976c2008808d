"""Stage 1: cross-entropy pre-training of the dense network on batches
augmented with the semantic transformations.

Checkpoints every epoch (network, optimizer, epoch, best validation
accuracy) and resumes from the last one; the data order of epoch e depends
only on (seed, e), so a resumed run trains on what the uninterrupted run
would have. The best validation weights are what later stages start from.
"""

import dataclasses
import os
import time
from typing import Any, Dict

import tensorflow as tf
import tf_keras

from csam_tf.core import atomic_io
from csam_tf.core import workdir as workdir_lib
from csam_tf.transforms import semantic as transforms
from csam_tf.data.pipeline import DataBundle
from csam_tf.transforms import plugin
from trainers.cross_entropy import (CrossEntropyTrainer,  # noqa: F401
                                    compile_trainer, cross_entropy_trainer)
from trainers.pretrain_config import PretrainConfig
from trainers.resumable_fit import resumable_fit, resume_record
from trainers.robust import RobustTrainer

STAGE = "pretrain"
NUM_SAMPLE_IMAGES = 8


def augment_from_config(cfg: PretrainConfig):
  """The training-batch augmentation the config asks for (None: off, and
  under the robust objective, whose views are the augmentation)."""
  if cfg.augment_family == "none" or cfg.objective == "robust":
    return None
  transform = plugin.load(cfg.augment_family, cfg.augment_ranges)
  return transforms.augmenter(
      plugin.level_ranges(transform, cfg.augment_level), cfg.augment_prob,
      plugin.graph_apply(cfg.augment_family, transform))


def objective_record(objective: str, robust) -> Dict[str, Any]:
  """What report.json says of a stage's objective (the robust settings
  when it is on)."""
  if objective != "robust":
    return {"objective": objective}
  return {"objective": objective, "robust": dataclasses.asdict(robust)}


def evaluate_splits(trainer: tf_keras.Model, data: DataBundle
                    ) -> Dict[str, float]:
  """Validation and test accuracy (and test loss) of a compiled trainer."""
  val = trainer.evaluate(data.evaluation("validation"), return_dict=True,
                         verbose=0)
  test = trainer.evaluate(data.evaluation("test"), return_dict=True,
                          verbose=0)
  return {"validation_accuracy": float(val["accuracy"]),
          "test_accuracy": float(test["accuracy"]),
          "test_loss": float(test["loss"])}


def make_optimizer(cfg: PretrainConfig, steps_per_epoch: int):
  """SGD-Nesterov or AdamW with a cosine schedule (optional linear warm-up);
  weight decay is decoupled and skips BatchNorm parameters and biases."""
  total = max(1, cfg.epochs * steps_per_epoch)
  warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
  if warmup:
    schedule = tf_keras.optimizers.schedules.CosineDecay(
        0.0, max(1, total - warmup), warmup_target=cfg.learning_rate,
        warmup_steps=warmup)
  else:
    schedule = tf_keras.optimizers.schedules.CosineDecay(cfg.learning_rate,
                                                         total)
  if cfg.optimizer == "sgd":
    optimizer = tf_keras.optimizers.SGD(
        schedule, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
        weight_decay=cfg.weight_decay or None)
  else:
    optimizer = tf_keras.optimizers.Adam(
        schedule, weight_decay=cfg.weight_decay or None)
  if cfg.weight_decay:
    optimizer.exclude_from_weight_decay(var_names=[
        "_bn/", "bias", "_norm", "position_embedding"])  # ViT: LayerNorm
  return optimizer


def run_pretrain(network: tf_keras.Model, data: DataBundle,
                 cfg: PretrainConfig, workdir: str, seed: int,
                 callbacks=()) -> Dict[str, Any]:
  """Trains `network` in place; returns the stage's metrics for report.json.

  On return `network` holds the best validation weights. `callbacks` join
  the stage's own in `fit`.
  """
  start = time.time()
  augment = augment_from_config(cfg)
  steps_per_epoch = data.steps_per_epoch()
  trainer = (RobustTrainer(network, cfg.robust, seed,
                           cfg.epochs * steps_per_epoch)
             if cfg.objective == "robust" else
             cross_entropy_trainer(network, cfg.sam_rho))
  optimizer = make_optimizer(cfg, steps_per_epoch)
  compile_trainer(trainer, optimizer)
  optimizer.build(network.trainable_variables)
  best = resumable_fit(
      STAGE,
      trainer, {
          "network": network,
          "optimizer": optimizer
      },
      data,
      seed,
      cfg.epochs,
      workdir,
      save_best=network.save_weights,
      best_path=os.path.join(workdir, workdir_lib.PRETRAIN_WEIGHTS),
      augment=augment,
      callbacks=[
          _SampleImages(
              data, seed, augment,
              os.path.join(workdir, workdir_lib.TENSORBOARD, STAGE, "samples")),
          *callbacks
      ])

  network.load_weights(os.path.join(workdir, workdir_lib.PRETRAIN_WEIGHTS))
  atomic_io.write_atomically(
      os.path.join(workdir, workdir_lib.PRETRAIN_MODEL),
      network.save,
      suffix=".keras")
  return {
      "epochs": cfg.epochs,
      "best_epoch": best["best_epoch"],
      "last_epoch_logs": best["last_epoch_logs"],
      **resume_record(best),
      **evaluate_splits(trainer, data),
      "steps_per_epoch": steps_per_epoch,
      "parameters": int(network.count_params()),
      "sam_rho": cfg.sam_rho,
      **objective_record(cfg.objective, cfg.robust),
      "wall_seconds_this_invocation": round(time.time() - start, 1),
      "best_weights": workdir_lib.PRETRAIN_WEIGHTS,
      "model": workdir_lib.PRETRAIN_MODEL,
  }


def import_model(network: tf_keras.Model, data: DataBundle, workdir: str,
                 path: str) -> Dict[str, Any]:
  """Stage 1 for `--init_model`: no training; the user's weights become
  the stage's outputs (so every later stage, and a resumed run, reads them
  as it reads a trained network's) and are evaluated like them."""
  start = time.time()
  atomic_io.write_atomically(
      os.path.join(workdir, workdir_lib.PRETRAIN_WEIGHTS),
      network.save_weights,
      suffix=".weights.h5")
  atomic_io.write_atomically(
      os.path.join(workdir, workdir_lib.PRETRAIN_MODEL),
      network.save,
      suffix=".keras")
  trainer = cross_entropy_trainer(network, 0.0)
  compile_trainer(trainer, tf_keras.optimizers.SGD())
  return {
      "init_model": path,
      "epochs": 0,
      **evaluate_splits(trainer, data),
      "parameters": int(network.count_params()),
      "wall_seconds_this_invocation": round(time.time() - start, 1),
      "best_weights": workdir_lib.PRETRAIN_WEIGHTS,
      "model": workdir_lib.PRETRAIN_MODEL,
  }


class _SampleImages(tf_keras.callbacks.Callback):
  """Logs the epoch's first training images, clean and transformed."""

  def __init__(self, data, seed, augment, log_dir):
    super().__init__()
    self._data, self._seed, self._augment = data, seed, augment
    self._writer = tf.summary.create_file_writer(log_dir)

  def on_epoch_begin(self, epoch, logs=None):
    with self._writer.as_default():
      for name, augment in (("clean", None), ("augmented", self._augment)):
        images, _ = next(iter(self._data.train(self._seed, augment, epoch)))
        tf.summary.image(name, images[:NUM_SAMPLE_IMAGES], step=epoch,
                         max_outputs=NUM_SAMPLE_IMAGES)
    self._writer.flush()
