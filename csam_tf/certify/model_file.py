"""A classifier in a model file (.tflite, .keras/.h5, SavedModel folder)
as a certification predictor: `python -m csam_tf.certify --model=PATH`.

Why: an engineer who ships a .tflite wants to know how stable that very
file is under brightness, rotation, blur ... on their images, with no
training run. Every mistake is one line before any image is certified:
`check_path` without TensorFlow, `load` and `check_fits` right after
loading (input shape, class range, logits against probabilities).
"""

import functools
import os
from typing import Tuple

import numpy as np

from csam_tf.core import fingerprints
from csam_tf.core.errors import UsageError

OUTPUTS = ("auto", "logits", "probabilities")
KERAS_SUFFIXES = (".keras", ".h5")
_SUM_TOLERANCE = 1e-3


def check_path(path: str) -> str:
  """'tflite', 'keras' or 'saved_model' for a file or folder that can hold
  a classifier (no TensorFlow)."""
  if os.path.isdir(path):
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
      raise UsageError(f"--model={path} is a folder without saved_model.pb: "
                       f"give a .tflite, .keras or .h5 file or a SavedModel "
                       f"folder")
    return "saved_model"
  if not os.path.isfile(path):
    raise UsageError(f"--model={path} does not exist (or, with --workdir, "
                     f"use dense, pruned or tflite)")
  if path.endswith(".tflite"):
    with open(path, "rb") as f:
      if f.read(8)[4:8] != b"TFL3":
        raise UsageError(f"--model={path} is not a TFLite flatbuffer (no "
                         f"TFL3 identifier): export it with "
                         f"tf.lite.TFLiteConverter or csam_tf.export_tflite")
    return "tflite"
  if path.endswith(KERAS_SUFFIXES):
    return "keras"
  raise UsageError(f"--model={path} is not a .tflite, .keras or .h5 file or "
                   f"a SavedModel folder")


class _SavedModelPredictor:
  """The serving signature of a SavedModel not saved by tf_keras."""

  def __init__(self, path):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    loaded = tf.saved_model.load(path)
    signatures = getattr(loaded, "signatures", {})
    if "serving_default" not in signatures:
      raise UsageError(f"--model={path}: the SavedModel has no "
                       f"serving_default signature to call")
    self._loaded = loaded
    self._call = signatures["serving_default"]
    specs = list(self._call.structured_input_signature[1].values())
    if len(specs) != 1 or len(specs[0].shape) != 4:
      raise UsageError(f"--model={path}: the serving signature must take "
                       f"one NHWC image tensor")
    self._input = list(self._call.structured_input_signature[1])[0]
    self.input_shape = tuple(specs[0].shape[1:])
    self._path = path

  @functools.cached_property
  def fingerprint(self) -> str:
    chunks = []
    for folder, _, files in sorted(os.walk(self._path)):
      for name in sorted(files):
        with open(os.path.join(folder, name), "rb") as f:
          chunks.append(f.read())
    return fingerprints.fingerprint_bytes(chunks)

  def __call__(self, images):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    outputs = self._call(**{self._input: tf.constant(images, tf.float32)})
    return next(iter(outputs.values())).numpy()


def load(path: str, kind: str, tflite_model):
  """(predictor, input shape (H, W, C), classes) of the model at `path`.
  A predictor maps float32 NHWC images in [0, 1] to the model's outputs
  and carries the fingerprint a resumed CSV is checked against.
  `tflite_model(path)` is the LiteRT runner (csam_tf.export.LiteRTModel,
  which the export layer owns)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from csam_tf.certify import predictors as certify_predictors  # pylint: disable=import-outside-toplevel
  try:
    if kind == "tflite":
      predict = tflite_model(path)
      details = predict.interpreter.get_input_details()[0]
      shape = tuple(int(d) for d in details["shape"][1:])
      classes = int(predict.interpreter.get_output_details()[0]["shape"][-1])
      return predict, shape, classes
    model = _keras_model(path)
    if model is None:
      predict = _SavedModelPredictor(path)
      shape = predict.input_shape
      classes = int(predict(np.zeros((1, *shape), np.float32)).shape[-1])
      return predict, shape, classes
  except UsageError:
    raise
  except (ValueError, OSError, RuntimeError, tf.errors.OpError) as e:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise UsageError(f"--model={path} cannot be loaded: {first[:200]}"
                     ) from None
  if len(model.inputs) != 1 or len(model.input_shape) != 4:
    raise UsageError(f"--model={path} must take one batch of NHWC images; "
                     f"its input shape is {model.input_shape}")
  shape = tuple(model.input_shape[1:])
  if None in shape:
    raise UsageError(f"--model={path} takes images of any size "
                     f"{shape}; rebuild it with a fixed input size")
  return (certify_predictors.KerasPredictor(model, shape), shape,
          int(model.output_shape[-1]))


def _keras_model(path):
  """The tf_keras model at `path`, or None for a SavedModel tf_keras did
  not write."""
  import tf_keras  # pylint: disable=import-outside-toplevel
  from csam_tf.models import vit  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  try:
    model = tf_keras.models.load_model(path, compile=False)
    # a SavedModel tf_keras did not write loads as a plain object
    return model if isinstance(model, tf_keras.Model) else None
  except Exception as e:  # pylint: disable=broad-except
    if os.path.isdir(path):
      return None
    if path.endswith(".keras"):
      from csam_tf.models import init_model  # pylint: disable=import-outside-toplevel
      if init_model.saved_by_keras_3(path):
        raise UsageError(f"--model={path} was saved by Keras 3 (tf.keras "
                         f"in TensorFlow >= 2.16): convert it to .tflite "
                         f"and certify that, or save it with tf_keras"
                         ) from None
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise UsageError(f"--model={path} cannot be loaded as a tf_keras model: "
                     f"{first[:200]}") from None


def check_fits(path: str, shape: Tuple[int, ...], classes: int,
               images: np.ndarray, labels: np.ndarray) -> None:
  """The images are the model's input and the labels among its classes."""
  if tuple(images.shape[1:]) != tuple(shape):
    raise UsageError(f"--model={path} takes images of shape {tuple(shape)}, "
                     f"the data's are {tuple(images.shape[1:])}: set "
                     f"--image_size (and the images' channels) to match")
  if classes < 2:
    raise UsageError(f"--model={path} has {classes} output(s); a classifier "
                     f"has one per class")
  bad = labels[(labels < 0) | (labels >= classes)]
  if bad.size:
    raise UsageError(f"label {int(bad[0])} is outside the model's {classes} "
                     f"classes (0 to {classes - 1}): the data's classes do "
                     f"not match the model's")


def output_kind(path: str, outputs: np.ndarray, declared: str) -> str:
  """'logits' or 'probabilities' from the model's outputs on a probe
  batch: probabilities are in [0, 1] and sum to 1 per image. A declared
  kind the outputs contradict is refused."""
  looks = ("probabilities" if np.all(outputs >= 0) and np.all(outputs <= 1)
           and np.allclose(outputs.sum(-1), 1.0, atol=_SUM_TOLERANCE)
           else "logits")
  if declared == "auto" or declared == looks:
    return looks
  if declared == "logits":
    raise UsageError(f"--model={path} outputs probabilities (each row in "
                     f"[0, 1], summing to 1) but --outputs=logits: drop "
                     f"--outputs or set it to probabilities")
  raise UsageError(f"--model={path} outputs do not sum to 1 per image "
                   f"(logits?) but --outputs=probabilities: drop --outputs "
                   f"or set it to logits")


class FromProbabilities:
  """A predictor of probabilities as one of logits: log p, whose softmax
  is p again, so the sampler's softmax leaves the model's outputs as they
  are."""

  def __init__(self, predict):
    self._predict = predict

  @property
  def fingerprint(self) -> str:
    return self._predict.fingerprint

  def __call__(self, images):
    return np.log(np.maximum(self._predict(images), 1e-30))
