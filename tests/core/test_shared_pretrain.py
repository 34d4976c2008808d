"""One dense model for several runs: the files copied where missing, the
stage-1 record marked with where it came from, once."""

import json
import os

from csam_tf.core import shared_pretrain

WEIGHTS = "pretrain/best.weights.h5"


def _workdir(root, weights, accuracy):
  os.makedirs(os.path.join(root, "pretrain"))
  with open(os.path.join(root, WEIGHTS), "wb") as f:
    f.write(weights)
  with open(os.path.join(root, "report.json"), "w") as f:
    json.dump({"flags": {"seed": 3}, "stages": {"pretrain": {
        "test_accuracy": accuracy, "complete": True}}}, f)


def test_share_copies_the_dense_model_and_its_record_once(tmp_path):
  source, target = str(tmp_path / "dense"), str(tmp_path / "run")
  _workdir(source, b"weights", 0.9)
  shared_pretrain.share(source, target, (WEIGHTS, "pretrain/model.keras"),
                        "dense/seed3")
  with open(os.path.join(target, WEIGHTS), "rb") as f:
    assert f.read() == b"weights"
  # a file the source does not have is not made up
  assert not os.path.exists(os.path.join(target, "pretrain/model.keras"))
  with open(os.path.join(target, "report.json")) as f:
    report = json.load(f)
  assert report["stages"]["pretrain"] == {
      "test_accuracy": 0.9, "complete": True, "shared_from": "dense/seed3"}
  assert report["flags"] == {"seed": 3}
  # a resumed run keeps what it has: neither file nor record replaced
  _workdir(str(tmp_path / "other"), b"other", 0.5)
  shared_pretrain.share(str(tmp_path / "other"), target, (WEIGHTS,), "other")
  with open(os.path.join(target, WEIGHTS), "rb") as f:
    assert f.read() == b"weights"
  with open(os.path.join(target, "report.json")) as f:
    assert json.load(f)["stages"]["pretrain"]["shared_from"] == "dense/seed3"
