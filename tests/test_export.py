"""Export: SavedModel and the three TFLite variants, run through
ai-edge-litert and compared with the Keras model."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from csam_tf import export
from csam_tf.data import pipeline
from csam_tf.data.config import DataConfig
from csam_tf.models import build_model

FLOAT32_TOLERANCE = 1e-4  # max |logit difference|, TFLite float32 vs Keras


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  tf_keras.utils.set_random_seed(0)
  data = pipeline.load(DataConfig(train_subset=256, eval_subset=200))
  model = build_model("resnet18", (28, 28, 1), 10, 0.25)
  # prune 90% of every kernel by magnitude, as a pruned model would be
  for layer in model.layers:
    if isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)):
      kernel = layer.kernel.numpy()
      cut = np.quantile(np.abs(kernel), 0.9)
      layer.kernel.assign(np.where(np.abs(kernel) >= cut, kernel, 0.0))
  workdir = str(tmp_path_factory.mktemp("export"))
  return model, data, workdir, export.run_export(model, data, workdir,
                                                 sparse=True)


def test_tflite_float32_matches_keras(exported):
  _, _, _, results = exported
  float32 = results["float32"]
  assert float32["max_abs_logit_diff"] < FLOAT32_TOLERANCE
  assert float32["argmax_agreement"] == 1.0
  assert float32["test_images"] == 200
  assert results["sparse"]["max_abs_logit_diff"] < FLOAT32_TOLERANCE


def test_int8_and_sparse_are_smaller(exported):
  _, _, workdir, results = exported
  assert results["int8"]["bytes"] * 3 < results["float32"]["bytes"]
  # 90% zeros stored sparse-encoded
  assert results["sparse"]["bytes"] < 0.6 * results["float32"]["bytes"]
  for variant in ("float32", "int8", "sparse"):
    path = os.path.join(workdir, results[variant]["file"])
    assert os.path.getsize(path) == results[variant]["bytes"]
    assert results[variant]["median_latency_ms_1_image"] > 0
  lite = export.LiteRTModel(os.path.join(workdir, results["int8"]["file"]))
  assert lite.interpreter.get_input_details()[0]["dtype"] == np.int8


def test_int8_agrees_with_keras_on_most_images(exported):
  _, _, _, results = exported
  assert results["int8"]["argmax_agreement"] >= 0.8


def test_savedmodel_serves_the_same_logits(exported):
  model, data, workdir, results = exported
  loaded = tf.saved_model.load(os.path.join(workdir, results["saved_model"]))
  images = next(iter(data.evaluation("test")))[0][:8]
  served = loaded.signatures["serving_default"](images=images)["logits"]
  np.testing.assert_allclose(served.numpy(),
                             model(images, training=False).numpy(),
                             atol=1e-5)
