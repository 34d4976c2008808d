"""Stage 3: fine-tune the weights under the binary masks of stage 2.

The masks go into tfmot `PruneLowMagnitude` wrappers that never recompute
them (csam_tf.tfmot_bridge); the trainer is stage 1's cross-entropy
trainer with tfmot's step callback. The stripped model (pruned weights
exactly zero) is what export and certification use.
"""

import os
import time
from typing import Any, Dict

import numpy as np
import tf_keras

from csam_tf import atomic_io, tfmot_bridge
from csam_tf.data.pipeline import Augment, DataBundle
from trainers.finetune_config import FinetuneConfig
from trainers.pretrain import CrossEntropyTrainer, make_optimizer
from trainers.pretrain_config import PretrainConfig
from trainers.resumable_fit import resumable_fit

STAGE = "finetune"
BEST_WEIGHTS = os.path.join(STAGE, "best.weights.h5")
MODEL_FILE = os.path.join(STAGE, "model.keras")


def measured_sparsity(model: tf_keras.Model, layer_names) -> Dict[str, Any]:
  """Fraction of exactly-zero weights, overall and per masked layer, read
  from the weights themselves (not from the target)."""
  per_layer, zeros, total = {}, 0, 0
  for name in layer_names:
    kernel = model.get_layer(name).get_weights()[0]
    layer_zeros = int(np.sum(kernel == 0))
    per_layer[name] = layer_zeros / kernel.size
    zeros, total = zeros + layer_zeros, total + kernel.size
  return {"overall": zeros / total, "per_layer": per_layer,
          "zero_weights": zeros, "prunable_weights": total}


def run_finetune(network: tf_keras.Model, masks: Dict[str, np.ndarray],
                 data: DataBundle, cfg: FinetuneConfig, workdir: str,
                 seed: int, augment: Augment = None):
  """Returns (stripped model, metrics); `network` (dense) is not changed."""
  start = time.time()
  pruned = tfmot_bridge.prune_with_fixed_masks(network, masks, cfg.sparsity)
  trainer = CrossEntropyTrainer(pruned)
  optimizer = make_optimizer(PretrainConfig(
      epochs=cfg.epochs, optimizer=cfg.optimizer,
      learning_rate=cfg.learning_rate, momentum=cfg.momentum,
      weight_decay=cfg.weight_decay), data.steps_per_epoch())
  trainer.compile(optimizer=optimizer)
  optimizer.build(pruned.trainable_variables)
  best_path = os.path.join(workdir, BEST_WEIGHTS)
  best = resumable_fit(
      STAGE, trainer, {"network": pruned, "optimizer": optimizer}, data,
      seed, cfg.epochs, workdir, save_best=pruned.save_weights,
      best_path=best_path, augment=augment,
      callbacks=[tfmot_bridge.update_step_callback()])
  pruned.load_weights(best_path)
  stripped = tfmot_bridge.strip(pruned)
  atomic_io.write_atomically(os.path.join(workdir, MODEL_FILE),
                             stripped.save, suffix=".keras")
  evaluator = CrossEntropyTrainer(stripped)
  evaluator.compile()
  val = evaluator.evaluate(data.evaluation("validation"), return_dict=True,
                           verbose=0)
  test = evaluator.evaluate(data.evaluation("test"), return_dict=True,
                            verbose=0)
  sparsity = measured_sparsity(stripped, masks)
  return stripped, {
      "epochs": cfg.epochs,
      "best_epoch": best["best_epoch"],
      "last_epoch_logs": best["last_epoch_logs"],
      "validation_accuracy": float(val["accuracy"]),
      "test_accuracy": float(test["accuracy"]),
      "test_loss": float(test["loss"]),
      "sparsity": sparsity["overall"],
      "sparsity_per_layer": sparsity["per_layer"],
      "zero_weights": sparsity["zero_weights"],
      "prunable_weights": sparsity["prunable_weights"],
      "model": MODEL_FILE,
      "wall_seconds_this_invocation": round(time.time() - start, 1),
  }
