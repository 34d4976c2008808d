"""Diagnostic: certified accuracy of binary masks BEFORE fine-tuning. Does
the search's mask make a more stable network than magnitude pruning's, and
does fine-tuning keep the difference? Each mask is applied to the dense
model, BatchNorm re-estimated under it on 50 training batches (no weight
changes), then accuracy and PCA@1e-3 (composite L2, CC-Cert, the protocol's
100 x 10 samples) on the first N images of the split.

  .venv/bin/python tools/pca_before_finetuning.py DENSE.keras [MASKS.npz...]
      [--magnitude=SPARSITY] [--allocation=layerwise|global]
      [--images=200] [--split=validation]

MASKS.npz maps layer names to 0/1 arrays (a run's mask/binary_masks.npz);
--magnitude adds the dense model's own magnitude masks (top-k of |w| per
layer, or one threshold over the pruned layers with global allocation; the
first conv and the classifier whole, PROTOCOL v2). Validation images by
default: test images are for the final tables.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras_cv  # noqa: E402,F401  (Keras 3 before tfmot)

import csam_tf  # noqa: E402
from csam_tf.certify import certificate as certify_certificate  # noqa: E402
from csam_tf.data import pipeline  # noqa: E402
from csam_tf.data.config import DataConfig  # noqa: E402
from csam_tf.masking.recalibrate import recalibrate_batchnorm  # noqa: E402
from binary_mask_accuracy import (mask_sets,  # noqa: E402 (tools/)
                                  model_under_masks)


def main(argv):
  paths = [a for a in argv if not a.startswith("--")]
  options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--"))
  if len(paths) < 1 or not all(os.path.exists(p) for p in paths):
    sys.exit(__doc__)
  count = int(options.get("images", 200))
  split = options.get("split", "validation")
  data = pipeline.load(DataConfig(dataset="fashion_mnist", batch_size=128))
  images, labels = certify_certificate.first_images(data, count, split)
  model_path = paths[0]
  print(f"| masks | {split} accuracy, first {count} (%) | PCA@1e-3 "
        f"composite L2 (%) |\n|---|---|---|")
  for label, masks in mask_sets(model_path, paths[1:], options).items():
    model = model_under_masks(model_path, masks)
    recalibrate_batchnorm(model, data.train(seed=0))  # PROTOCOL.md: 50
    result = csam_tf.certify_model(model, images, labels)
    print(f"| {label} | {100 * result['clean_accuracy']:.1f} | "
          f"{100 * result['pca@0.001']:.1f} |", flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
