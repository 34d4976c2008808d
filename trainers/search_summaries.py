"""TensorBoard for the mask search as it happens: every N steps the mean of
each loss term, the binary branch's accuracy, the flip fraction, the
masks' movement and the sparsity target over those N steps; per epoch and
at the end a histogram of each layer's soft masks (collapse to 0 or 1 is
the failure the paper names).

`fit` reports running means over the epoch; the mean over the last N steps
is recovered from two of them: (k m_k - j m_j) / (k - j).
"""

import os
from typing import Dict, Sequence

import tensorflow as tf
import tf_keras

STEP_SCALARS = ("loss", "stab", "ratio", "consist", "l1", "ce", "accuracy",
                "flip_fraction", "mask_mean", "mask_moved",
                "magnitude_overlap", "sparsity_target")


class SearchSummaries(tf_keras.callbacks.Callback):
  """Writes <logdir>/steps (scalars every `every` steps) and
  <logdir>/masks (soft-mask histograms per epoch and at the end)."""

  def __init__(self, logdir: str, every: int, layers: Sequence,
               names: Sequence[str] = STEP_SCALARS):
    super().__init__()
    self._every = max(1, int(every))
    self._layers = list(layers)
    self._names = tuple(names)
    self._steps = tf.summary.create_file_writer(os.path.join(logdir,
                                                             "steps"))
    self._masks = tf.summary.create_file_writer(os.path.join(logdir,
                                                             "masks"))
    self._previous = (0, {})

  def on_epoch_begin(self, epoch, logs=None):
    self._previous = (0, {})

  def on_train_batch_end(self, batch, logs=None):
    done = batch + 1
    if done % self._every or not logs:
      return
    means = {k: float(v) for k, v in logs.items() if k in self._names}
    last, previous = self._previous
    step = int(self.model.optimizer.iterations.numpy())
    with self._steps.as_default():
      for name, mean in means.items():
        window = (done * mean - last * previous.get(name, 0.0)) / (
            done - last)
        tf.summary.scalar(name, window, step=step)
    self._previous = (done, means)

  def on_epoch_end(self, epoch, logs=None):
    self._histograms(epoch + 1)

  def on_train_end(self, logs=None):
    self._histograms(int(self.model.optimizer.iterations.numpy()),
                     tag="final")
    self._steps.flush()
    self._masks.flush()

  def _histograms(self, step: int, tag: str = "epoch"):
    with self._masks.as_default():
      for layer in self._layers:
        tf.summary.histogram(f"{tag}/{layer.name}", layer.soft_mask,
                             step=step)


def read_scalars(folder: str) -> Dict[str, list]:
  """{tag: [(step, value), ...]} of the event files in `folder` (for tests
  and reports)."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=import-outside-toplevel
  accumulator = event_accumulator.EventAccumulator(
      folder, size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  return {tag: [(e.step, float(tf.make_ndarray(e.tensor_proto)))
                for e in accumulator.Tensors(tag)]
          for tag in accumulator.Tags()["tensors"]}
