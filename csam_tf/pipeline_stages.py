"""Runs the requested stages in order on one workdir, recording each in
report.json; the CLI only parses flags and calls `run`."""

import os
import time
from typing import Any, Dict, Sequence

import keras_cv  # noqa: F401  (Keras 3 first; see DEVELOPERS.md)
import tensorflow as tf
import tf_keras

from csam_tf import report
from csam_tf.data import pipeline
from csam_tf.data.config import DataConfig
from csam_tf.models import build_model
from trainers import pretrain
from trainers.pretrain_config import PretrainConfig


def run(workdir: str, stages: Sequence[str], *, seed: int,
        deterministic: bool, data_config: DataConfig, arch: str,
        width_multiplier: float, pretrain_config: PretrainConfig,
        run_flags: Dict[str, Any]) -> Dict[str, Any]:
  """Runs `stages`; returns the updated report."""
  tf_keras.utils.set_random_seed(seed)
  if deterministic:
    tf.config.experimental.enable_op_determinism()
  data = pipeline.load(data_config)
  network = build_model(arch, data.input_shape, data.num_classes,
                        width_multiplier)
  result = {}
  for stage in stages:
    done = report.stage_metrics(workdir, stage)
    if done is not None and done.get("complete"):
      print(f"{stage}: finished earlier (report.json); skipping", flush=True)
      result = done
      continue
    start = time.time()
    print(f"{stage}: starting", flush=True)
    if stage == "pretrain":
      metrics = pretrain.run_pretrain(network, data, pretrain_config, workdir,
                                      seed)
    else:
      raise ValueError(f"unknown stage {stage}")
    metrics.update(complete=True, wall_seconds=round(time.time() - start, 1))
    result = report.update_stage(workdir, stage, metrics, run_flags)
    print(f"{stage}: done in {metrics['wall_seconds']:.0f} s: " + ", ".join(
        f"{k} {v:.4f}" for k, v in metrics.items() if "accuracy" in k),
        flush=True)
  return result
