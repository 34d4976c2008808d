"""TensorBoard of the mask search: scalars every N steps are the exact
means over those steps, histograms of every layer's soft masks."""

import types

import numpy as np
import pytest
import tensorflow as tf

from trainers.search_summaries import SearchSummaries, read_scalars


def test_window_means_from_running_means_and_mask_histograms(tmp_path):
  layers = [types.SimpleNamespace(name="conv", soft_mask=tf.Variable(
      np.linspace(0, 1, 50, dtype=np.float32)))]
  callback = SearchSummaries(str(tmp_path), every=2, layers=layers,
                             names=("loss", "sparsity_target"))
  iterations = tf.Variable(0, dtype=tf.int64)
  callback.set_model(types.SimpleNamespace(
      optimizer=types.SimpleNamespace(iterations=iterations)))
  losses = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0]
  callback.on_epoch_begin(0)
  for batch, _ in enumerate(losses):
    iterations.assign_add(1)
    running = float(np.mean(losses[:batch + 1]))  # what fit reports
    callback.on_train_batch_end(batch, {"loss": running,
                                        "sparsity_target": 0.9,
                                        "other": 5.0})
  callback.on_epoch_end(0)
  callback.on_train_end()
  scalars = read_scalars(str(tmp_path / "steps"))
  assert set(scalars) == {"loss", "sparsity_target"}
  assert [s for s, _ in scalars["loss"]] == [2, 4, 6]
  assert [v for _, v in scalars["loss"]] == pytest.approx([1.5, 3.5, 7.0])
  assert [v for _, v in scalars["sparsity_target"]] == pytest.approx(
      [0.9] * 3)
  from tensorboard.backend.event_processing import event_accumulator
  masks = event_accumulator.EventAccumulator(
      str(tmp_path / "masks"), size_guidance={event_accumulator.TENSORS: 0})
  masks.Reload()
  assert set(masks.Tags()["tensors"]) == {"epoch/conv", "final/conv"}
