"""Export of the stripped model: SavedModel and TFLite (float32, full-int8,
and sparse-encoded float32), each checked against the Keras model on the
test set through ai-edge-litert, the runtime that ships on phones."""

import functools
import os
import tempfile
import time
from typing import Any, Dict, Iterable, List, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf
import tf_keras
from ai_edge_litert.interpreter import Interpreter

from csam_tf.core import atomic_io, fingerprints, native_stderr, progress
from csam_tf.core import workdir as workdir_lib
from csam_tf.data.pipeline import DataBundle
from csam_tf.structured import flops

LATENCY_RUNS = 50
PAIRED_LATENCY_RUNS = 200
REPRESENTATIVE_BATCHES = 4


def save_savedmodel(model: tf_keras.Model, path: str) -> None:
  """A SavedModel with one `serving_default` signature: images -> logits.
  It holds the model's variables, not the Keras object: tracking that makes
  tf_keras serialise every layer's call functions too, which a server
  never uses and which made saving and each TFLite conversion about 3x
  slower."""
  shape = [None, *model.input_shape[1:]]

  @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32,
                                              name="images")])
  def serve(images):
    return {"logits": model(images, training=False)}

  module = tf.Module()
  module.model_variables, module.serve = list(model.variables), serve
  tf.saved_model.save(module, path, signatures={"serving_default": serve})


def convert(source: Union[tf_keras.Model, str], variant: str,
            representative: Iterable[np.ndarray] = ()) -> bytes:
  """TFLite flatbuffer of a tf_keras model or of a SavedModel folder
  written by save_savedmodel: 'float32', 'int8' (full-integer, int8 input
  and output, calibrated on `representative`) or 'sparse' (float32
  weights stored sparse-encoded). A Keras model is first saved with
  save_savedmodel (most of a conversion's time), so several variants of
  one model convert from one such folder. The converter's C++ chatter is
  held back (`--log_tf` shows it); int8 calibration shows its progress."""
  if not isinstance(source, str):
    with tempfile.TemporaryDirectory() as temp:
      save_savedmodel(source, os.path.join(temp, "model"))
      return convert(os.path.join(temp, "model"), variant, representative)
  converter = tf.lite.TFLiteConverter.from_saved_model(source)
  if variant == "int8":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    images = list(representative)
    converter.representative_dataset = lambda: progress.counted(
        ([x[None]] for x in images), len(images), "int8 calibration")
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
  elif variant == "sparse":
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
  elif variant != "float32":
    raise ValueError(f"unknown TFLite variant {variant!r}")
  with native_stderr.held_back():
    return converter.convert()


class LiteRTModel:
  """A .tflite run through ai-edge-litert, quantising int8 inputs and
  dequantising outputs so it is called like the Keras model."""

  def __init__(self, path: str, num_threads: int = 2):
    with native_stderr.held_back():  # "Created ... XNNPACK delegate"
      self.interpreter = Interpreter(model_path=path,
                                     num_threads=num_threads)
    self._input = self.interpreter.get_input_details()[0]
    self._output = self.interpreter.get_output_details()[0]
    self._batch = None
    self._path = path

  @functools.cached_property
  def fingerprint(self) -> str:
    """The .tflite's bytes, hashed: what a resumed certification CSV
    checks (read only when certification asks)."""
    with open(self._path, "rb") as f:
      return fingerprints.fingerprint_bytes([f.read()])

  def __call__(self, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if self._batch != len(images):
      self.interpreter.resize_tensor_input(self._input["index"],
                                           [len(images), *images.shape[1:]])
      with native_stderr.held_back():  # the delegate announces itself
        self.interpreter.allocate_tensors()
      self._input = self.interpreter.get_input_details()[0]
      self._output = self.interpreter.get_output_details()[0]
      self._batch = len(images)
    self.interpreter.set_tensor(self._input["index"],
                                _quantize(images, self._input))
    self.interpreter.invoke()
    return _dequantize(self.interpreter.get_tensor(self._output["index"]),
                       self._output)


def keras_test_logits(keras_model, data: DataBundle) -> List[np.ndarray]:
  """The Keras model's logits per test batch: computed once and compared
  with every exported variant (the images are read again, not kept)."""
  return [keras_model(images, training=False).numpy()
          for images, _ in data.evaluation("test")]


def compare_on_test(lite: LiteRTModel, data: DataBundle,
                    keras_logits: Sequence[np.ndarray]) -> Dict[str, Any]:
  """Accuracy of the .tflite and how far it is from the Keras model
  (`keras_logits` from keras_test_logits, batch for batch)."""
  max_diff, agree, correct, count = 0.0, 0, 0, 0
  for (images, labels), expected in zip(data.evaluation("test"),
                                        keras_logits, strict=True):
    got = lite(images.numpy())
    max_diff = max(max_diff, float(np.max(np.abs(got - expected))))
    agree += int(np.sum(got.argmax(1) == expected.argmax(1)))
    correct += int(np.sum(got.argmax(1) == labels.numpy()))
    count += len(labels)
  return {"test_accuracy": correct / count, "argmax_agreement": agree / count,
          "max_abs_logit_diff": max_diff, "test_images": count}


def median_latency_ms(lite: LiteRTModel, image: np.ndarray,
                      runs: int = LATENCY_RUNS) -> float:
  """Median wall time of one single-image invoke (after a warm-up)."""
  lite(image[None])
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    lite(image[None])
    times.append((time.perf_counter() - start) * 1000.0)
  return float(np.median(times))


def paired_latency_ms(first: LiteRTModel, second: LiteRTModel,
                      image: np.ndarray, runs: int = PAIRED_LATENCY_RUNS
                      ) -> Tuple[float, float]:
  """Median single-image latency of two models measured in alternation, so
  drifts of a shared machine (other jobs, clock changes) hit both alike."""
  first(image[None])
  second(image[None])
  times = ([], [])
  for _ in range(runs):
    for model, spent in ((first, times[0]), (second, times[1])):
      start = time.perf_counter()
      model(image[None])
      spent.append((time.perf_counter() - start) * 1000.0)
  return float(np.median(times[0])), float(np.median(times[1]))


def size_figures(dense: tf_keras.Model, pruned: tf_keras.Model
                 ) -> Dict[str, Any]:
  """Parameters and FLOPs of dense vs pruned, and the FLOP reduction."""
  figures = {
      "parameters": {"dense": int(dense.count_params()),
                     "pruned": int(pruned.count_params())},
      "flops": {"dense": flops.model_flops(dense),
                "pruned": flops.model_flops(pruned)}}
  figures["flops"]["reduction"] = (figures["flops"]["dense"] /
                                   figures["flops"]["pruned"])
  return figures


def compare_with_dense(dense: tf_keras.Model, pruned: tf_keras.Model,
                       folder: str, image: np.ndarray,
                       representative) -> Dict[str, Any]:
  """Dense vs pruned: parameters, FLOPs, .tflite bytes and paired
  single-image latency (ai-edge-litert, XNNPACK, 2 threads), float32 and
  int8. The dense .tflite files are written beside the pruned ones."""
  figures = size_figures(dense, pruned)
  with tempfile.TemporaryDirectory() as temp:
    dense_saved_model = os.path.join(temp, "dense")
    save_savedmodel(dense, dense_saved_model)
    flatbuffers = {variant: convert(dense_saved_model, variant,
                                    representative)
                   for variant in ("float32", "int8")}
  for variant in ("float32", "int8"):
    pruned_name = os.path.basename(workdir_lib.TFLITE[variant])
    dense_path = os.path.join(folder, "dense" + pruned_name[len("model"):])
    flatbuffer = flatbuffers[variant]
    atomic_io.write_atomically(dense_path,
                               lambda p: _write_bytes(p, flatbuffer),
                               suffix=".tflite")
    pruned_path = os.path.join(folder, pruned_name)
    dense_ms, pruned_ms = paired_latency_ms(
        LiteRTModel(dense_path), LiteRTModel(pruned_path), image)
    figures[variant] = {
        "bytes_dense": os.path.getsize(dense_path),
        "bytes_pruned": os.path.getsize(pruned_path),
        "latency_ms_dense": dense_ms, "latency_ms_pruned": pruned_ms,
        "speedup": dense_ms / pruned_ms,
        "speedup_over_flop_reduction": (dense_ms / pruned_ms) /
                                       figures["flops"]["reduction"]}
  return figures


def run_export(model: tf_keras.Model, data: DataBundle, workdir: str,
               sparse: bool, dense: tf_keras.Model = None) -> Dict[str, Any]:
  """Writes <workdir>/export/ and returns the figures for report.json;
  with the `dense` model also the dense-vs-pruned comparison."""
  start = time.time()
  folder = os.path.join(workdir, workdir_lib.EXPORT_DIR)
  os.makedirs(folder, exist_ok=True)
  saved_model = os.path.join(workdir, workdir_lib.SAVED_MODEL)
  atomic_io.write_dir_atomically(saved_model,
                                 lambda path: save_savedmodel(model, path))
  representative = [x for images, _ in data.train(
      seed=0, max_steps=REPRESENTATIVE_BATCHES) for x in images.numpy()]
  variants = [v for v in workdir_lib.TFLITE if sparse or v != "sparse"]
  test_image = next(iter(data.evaluation("test")))[0].numpy()[0]
  results = {"saved_model": os.path.relpath(saved_model, workdir)}
  keras_logits = keras_test_logits(model, data)
  for variant in variants:
    path = os.path.join(workdir, workdir_lib.TFLITE[variant])
    flatbuffer = convert(saved_model, variant, representative)
    atomic_io.write_atomically(path, lambda p: _write_bytes(p, flatbuffer),
                               suffix=".tflite")
    lite = LiteRTModel(path)
    figures = compare_on_test(lite, data, keras_logits)
    figures["bytes"] = os.path.getsize(path)
    figures["median_latency_ms_1_image"] = median_latency_ms(lite,
                                                             test_image)
    figures["file"] = os.path.relpath(path, workdir)
    results[variant] = figures
  if dense is not None:
    results["dense_vs_pruned"] = compare_with_dense(
        dense, model, folder, test_image, representative)
  results["wall_seconds_this_invocation"] = round(time.time() - start, 1)
  return results


def _write_bytes(path, data):
  with open(path, "wb") as f:
    f.write(data)


def _quantize(images, detail):
  if detail["dtype"] == np.float32:
    return images
  scale, zero = detail["quantization"]
  info = np.iinfo(detail["dtype"])
  return np.clip(np.round(images / scale + zero), info.min,
                 info.max).astype(detail["dtype"])


def _dequantize(values, detail):
  if detail["dtype"] == np.float32:
    return values
  scale, zero = detail["quantization"]
  return (values.astype(np.float32) - zero) * scale
