"""What certification runs: a traced Keras model as `images -> logits`
with its weights' fingerprint, and the plain batched inference speed
certification throughput is measured against. (A .tflite runs through
csam_tf.export.LiteRTModel, which has the same call and fingerprint.)"""

import functools
import time

import numpy as np
import tensorflow as tf

from csam_tf.core import fingerprints
from csam_tf.certify.sampler import Predict


class KerasPredictor:
  """A traced, retracing-free `images -> logits` of a tf_keras model, with
  the fingerprint of its weights (what a resumed CSV must have been made
  with)."""

  def __init__(self, model, input_shape):
    self._model = model
    self._traced = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, *input_shape], tf.float32)])

  @functools.cached_property
  def fingerprint(self) -> str:
    return fingerprints.fingerprint_bytes(
        np.ascontiguousarray(w).tobytes() for w in self._model.get_weights())

  def __call__(self, images):
    return self._traced(images).numpy()


def plain_throughput(predict: Predict, images: np.ndarray, batch_size: int,
                     repeats: int = 3) -> float:
  """Images per second of plain batched inference at `batch_size` (median
  of `repeats` after a warm-up): the yardstick of certification speed."""
  batch = np.resize(images, (batch_size, *images.shape[1:]))
  predict(batch)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    predict(batch)
    times.append(time.perf_counter() - start)
  return batch_size / float(np.median(times))
