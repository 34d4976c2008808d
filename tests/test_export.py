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

# One test process computes the exported model for this module's tests
# (`make test`: pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("export")

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


def _brightness_classifier():
  """A conv net that calls an image bright (class 0) or dark (class 1) by
  its mean: images far from mean 0.5 certify, the others do not."""
  inputs = tf_keras.Input((12, 12, 1))
  x = tf_keras.layers.Conv2D(2, 3, padding="same")(inputs)
  x = tf_keras.layers.GlobalAveragePooling2D()(x)
  outputs = tf_keras.layers.Dense(2)(x)
  model = tf_keras.Model(inputs, outputs)
  model.layers[1].set_weights([np.full((3, 3, 1, 2), 1 / 9, np.float32),
                               np.zeros(2, np.float32)])
  model.layers[3].set_weights([np.array([[6, -6], [6, -6]], np.float32),
                               np.array([-6, 6], np.float32)])
  return model


# Certification bounds of the .tflite and of the Keras model: the same
# draws, logits within 1e-5, so Y within ~1e-6; the bound is
# exp(min_t ...) with t up to 1e4, so its log may move by up to ~1e-2.
BOUND_LOG10_TOLERANCE = 0.01


def test_certified_tflite_gives_the_keras_bounds_and_verdicts(tmp_path):
  from csam_tf.certify import rows as csv_rows
  from csam_tf.certify import certificate as certify_certificate
  from csam_tf.certify import predictors as certify_predictors
  from csam_tf.certify.config import CertifyConfig
  model = _brightness_classifier()
  path = tmp_path / "model.tflite"
  path.write_bytes(export.convert(model, "float32"))
  means = np.linspace(0.05, 0.95, 16)
  rng = np.random.default_rng(0)
  images = np.clip(means[:, None, None, None] + rng.normal(
      0, 0.05, (16, 12, 12, 1)), 0, 1).astype(np.float32)
  labels = (images.reshape(16, -1).mean(1) <= 0.5).astype(np.int64)
  cfg = CertifyConfig(nsamples=50, nbounds=4, batch_size=64, num_images=16,
                      full_bounds=True)
  rows = {}
  for name, predict in (("keras", certify_predictors.KerasPredictor(
      model, (12, 12, 1))), ("tflite", export.LiteRTModel(str(path)))):
    certify_certificate.certify_model(predict, images, labels, "composite",
                                      "L2", cfg, str(tmp_path / f"{name}.csv"))
    rows[name] = csv_rows.read_rows(str(tmp_path / f"{name}.csv"))
  verdicts = [r["certified"] for r in rows["keras"]]
  assert 4 <= sum(verdicts) <= 12, verdicts  # some certified, some not
  assert [r["certified"] for r in rows["tflite"]] == verdicts
  for keras_row, lite_row in zip(rows["keras"], rows["tflite"]):
    assert lite_row["prediction"] == keras_row["prediction"]
    assert lite_row["flips"] == keras_row["flips"]
    if keras_row["bound"] == 0.0:  # below float64 range: exp underflowed
      assert lite_row["bound"] == 0.0
      continue
    np.testing.assert_allclose(np.log10(lite_row["bound"]),
                               np.log10(keras_row["bound"]),
                               atol=BOUND_LOG10_TOLERANCE)
