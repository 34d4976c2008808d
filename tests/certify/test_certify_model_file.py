"""`python -m csam_tf.certify --model=PATH --data=...`: a .keras, .h5,
.tflite or SavedModel classifier certified on a .npz, an image folder or
a dataset split gives the rows the Python API gives on the same images;
a softmax model is certified as its logits twin; a second run resumes;
bad input is one line, exit 2, before any image is certified."""

import csv
import json
import os

import numpy as np
import pytest
import tf_keras

import csam_tf
from conftest import run_module
from csam_tf.certify import image_source, model_file
from csam_tf.core.errors import UsageError

CERT = ["--nsamples=10", "--nbounds=2", "--families=brightness"]
pytestmark = [pytest.mark.xdist_group("certify_model_file"),
              pytest.mark.heavy(30)]


def _certify(*args, fresh_interpreter=False):
  return run_module("csam_tf.certify", *args, timeout=300,
                    fresh_interpreter=fresh_interpreter)


def _logits_model():
  L = tf_keras.layers
  model = tf_keras.Sequential([
      tf_keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="conv"),
      L.BatchNormalization(), L.ReLU(), L.GlobalAveragePooling2D(),
      L.Dense(3, name="head")])
  rng = np.random.default_rng(0)
  model.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) if i < 2
                     or i > 5 else w for i, w in enumerate(
                         model.get_weights())])
  return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  """A logits model (.keras, .tflite, SavedModel), its softmax twin (.h5),
  12 images with labels (.npz) and the same images in a class folder."""
  root = tmp_path_factory.mktemp("model_file")
  model = _logits_model()
  model.save(root / "model.keras")
  open(root / "model.tflite", "wb").write(csam_tf.export_tflite(model))
  model.export(str(root / "saved"))
  soft = tf_keras.Model(model.input, tf_keras.layers.Softmax()(model.output))
  soft.save(root / "soft.h5")
  rng = np.random.default_rng(1)
  images = (rng.random((12, 8, 8, 1)) * 255).astype(np.uint8)
  labels = np.argmax(model(images / 255.0).numpy(), 1)  # all right
  labels[:2] = (labels[:2] + 1) % 3                     # two wrong
  np.savez(root / "data.npz", images=images, labels=labels)
  return root, model, images.astype(np.float32) / 255.0, labels


def _rows(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_a_keras_file_certifies_as_the_api_does(files):
  root, model, images, labels = files
  # as a user starts it (the other runs fork from cli_zygote, where
  # TensorFlow and tfmot are imported already): the command's own imports
  result = _certify(f"--model={root / 'model.keras'}",
                    f"--data={root / 'data.npz'}", *CERT,
                    fresh_interpreter=True)
  assert result.returncode == 0, result.stderr[-2000:]
  out = root / "model_keras_certify"
  expected = csam_tf.certify_model(model, images, labels, family="brightness",
                                   nsamples=10, nbounds=2)
  rows = _rows(out / "model_brightness_L2.csv")
  assert [int(r["certified"]) for r in rows] == [
      r["certified"] for r in expected["rows"]]
  assert [float(r["bound"]) for r in rows] == pytest.approx(
      [r["bound"] for r in expected["rows"]], nan_ok=True)
  report = json.loads((out / "report.json").read_text())
  assert report["images"] == 12
  assert report["certify"]["model_brightness_L2"]["clean_accuracy"] == (
      pytest.approx(10 / 12))
  again = _certify(f"--model={root / 'model.keras'}",
                   f"--data={root / 'data.npz'}", *CERT)
  assert again.returncode == 0, again.stderr[-2000:]
  assert "0/0 images" in again.stdout and _rows(
      out / "model_brightness_L2.csv") == rows   # resumed: nothing redone


@pytest.mark.parametrize("name", ["model.tflite", "saved", "soft.h5"])
def test_tflite_savedmodel_and_softmax_files_give_the_keras_rows(files,
                                                                 name):
  root, model, images, labels = files
  keras_rows = csam_tf.certify_model(model, images, labels,
                                     family="brightness", nsamples=10,
                                     nbounds=2)["rows"]
  out = root / f"out_{name.replace('.', '_')}"
  result = _certify(f"--model={root / name}", f"--data={root / 'data.npz'}",
                    f"--out={out}", *CERT)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = _rows(out / "model_brightness_L2.csv")
  assert [int(r["prediction"]) for r in rows] == [
      r["prediction"] for r in keras_rows]
  # the margin from p0: a softmax model's is its logits twin's (within
  # float32 rounding, and the .tflite's kernels')
  np.testing.assert_allclose([float(r["margin"]) for r in rows],
                             [r["margin"] for r in keras_rows], atol=1e-4)


def test_an_image_folder_is_every_image_with_sorted_class_numbers(
    files, tmp_path):
  root, *_ = files
  for name, value in (("b_cat", 0.2), ("a_dog", 0.9)):
    (tmp_path / "images" / name).mkdir(parents=True)
    for i in range(3):
      tf_keras.utils.save_img(tmp_path / "images" / name / f"{i}.png",
                              np.full((16, 16, 1), value * 255),
                              scale=False)
  images, labels = image_source.load(str(tmp_path / "images"), "folder",
                                     "test", 100, (8, 8, 1))
  assert images.shape == (6, 8, 8, 1) and sorted(labels) == [0] * 3 + [1] * 3
  for image, label in zip(images, labels):   # a_dog is class 0
    assert image.mean() == pytest.approx(0.9 if label == 0 else 0.2,
                                         abs=0.01)


def _one_class_folder(tmp_path):
  (tmp_path / "one" / "cat").mkdir(parents=True)
  tf_keras.utils.save_img(tmp_path / "one" / "cat" / "a.png",
                          np.zeros((8, 8, 1)), scale=False)
  return str(tmp_path / "one")


@pytest.mark.parametrize("args,message", [
    (["--model={root}/data.npz", "--data={root}/data.npz"],
     "is not a .tflite, .keras or .h5 file"),
    (["--model={root}/model.keras"], "needs --data"),
    (["--model={root}/model.keras", "--data=/nonexistent.npz"],
     "does not exist"),
    (["--model={root}/model.keras", "--data={one_class}"],
     "has 1 class(es)"),
    (["--model={root}/model.keras", "--data={root}/data.npz",
      "--workdir={root}"], "--model=" ),
    (["--model={root}/model.keras", "--data={root}/data.npz",
      "--image_size=16"], "takes images of shape (8, 8, 1), the data's are "
     "(16, 16, 1)"),
    (["--model={root}/soft.h5", "--data={root}/data.npz", "--outputs=logits"],
     "outputs probabilities"),
])
def test_bad_input_is_one_line_before_any_image(files, tmp_path, args,
                                                message):
  root, *_ = files
  out, one_class = tmp_path / "out", _one_class_folder(tmp_path)
  result = _certify(*[a.format(root=root, one_class=one_class)
                      for a in args], f"--out={out}")
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("csam_tf.certify: error: ")
  assert message in lines[0]
  assert not list(out.glob("*.csv"))


def test_labels_outside_the_model_and_a_tampered_file_are_refused(
    files, tmp_path):
  root, *_ = files
  with pytest.raises(UsageError, match="label 3 is outside the model's 3 "
                     "classes"):
    model_file.check_fits("m", (8, 8, 1), 3, np.zeros((2, 8, 8, 1)),
                          np.array([0, 3]))
  fake = tmp_path / "fake.tflite"
  fake.write_bytes(b"\x00" * 64)
  with pytest.raises(UsageError, match="not a TFLite flatbuffer"):
    model_file.check_path(str(fake))
  with pytest.raises(UsageError, match="logits"):
    model_file.output_kind("m", np.array([[2.0, -1.0, 0.5]]), "probabilities")
  assert model_file.output_kind("m", np.array([[0.2, 0.3, 0.5]]),
                                "auto") == "probabilities"
