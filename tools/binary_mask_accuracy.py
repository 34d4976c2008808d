"""Diagnostic: test accuracy of a dense model under binary masks, with the
frozen BatchNorm statistics (what the v1 mask search saw) and after
re-estimating them on 50 training batches (no weight changes).

  .venv/bin/python tools/binary_mask_accuracy.py MODEL.keras MASKS.npz...
      [--magnitude=SPARSITY]   also the model's own magnitude masks
      [--allocation=layerwise|global]   ... per layer or one threshold

MASKS.npz maps layer names to 0/1 arrays (a run's mask/binary_masks.npz).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras_cv  # noqa: E402,F401  (Keras 3 before tfmot)
import numpy as np  # noqa: E402
import tf_keras  # noqa: E402

from csam_tf.data import pipeline  # noqa: E402
from csam_tf.data.config import DataConfig  # noqa: E402
from csam_tf.masking import binarize  # noqa: E402
from csam_tf.masking.masked_model import prunable_layer_names  # noqa: E402
from csam_tf.masking.recalibrate import recalibrate_batchnorm  # noqa: E402


def accuracy(model, data):
  correct = total = 0
  for images, labels in data.evaluation("test"):
    predicted = model(images, training=False).numpy().argmax(1)
    correct += int((predicted == labels.numpy()).sum())
    total += len(predicted)
  return correct / total


def model_under_masks(model_path, masks):
  """The saved model with each named layer's kernel times its 0/1 mask."""
  model = tf_keras.models.load_model(model_path, compile=False)
  for name, mask in masks.items():
    weights = model.get_layer(name).get_weights()
    model.get_layer(name).set_weights([weights[0] * mask] + weights[1:])
  return model


def magnitude_masks(model, sparsity, allocation="layerwise"):
  """The model's own top-k of |w| over its prunable layers, per layer or
  with one global threshold."""
  names = prunable_layer_names(model)
  scores = [np.abs(model.get_layer(n).get_weights()[0]) for n in names]
  hard = binarize.binarize(scores, sparsity, allocation)
  return {n: h.numpy() for n, h in zip(names, hard)}


def mask_sets(model_path, mask_paths, options):
  """{label: masks}: each MASKS.npz, then with --magnitude the model's own
  magnitude masks (--allocation, layer-wise by default)."""
  sets = {path: dict(np.load(path)) for path in mask_paths}
  if "magnitude" in options:
    allocation = options.get("allocation", "layerwise")
    sets[f"magnitude {options['magnitude']} {allocation}"] = magnitude_masks(
        tf_keras.models.load_model(model_path, compile=False),
        float(options["magnitude"]), allocation)
  return sets


def main(argv):
  paths = [a for a in argv if not a.startswith("--")]
  options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--"))
  if len(paths) < 1 or not all(os.path.exists(p) for p in paths):
    sys.exit(__doc__)
  data = pipeline.load(DataConfig(dataset="fashion_mnist", batch_size=128))
  model_path = paths[0]
  for label, masks in mask_sets(model_path, paths[1:], options).items():
    model = model_under_masks(model_path, masks)
    frozen = accuracy(model, data)
    recalibrate_batchnorm(model, data.train(seed=0))  # PROTOCOL.md: 50
    print(f"{label}: test accuracy {frozen:.2%} with the frozen BatchNorm "
          f"statistics, {accuracy(model, data):.2%} after re-estimating them")


if __name__ == "__main__":
  main(sys.argv[1:])
