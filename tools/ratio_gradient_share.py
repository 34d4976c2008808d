"""Diagnostic: which images carry L_ratio's gradient in the mask search.

r = ||p1(x) - p2(T(x))||_inf / (d(x) + 1e-6) explodes where the half
top-2 margin d is near zero, so a few ambiguous images may own the masks'
gradient. On one training batch of a trained dense model (the percentile
init at --sparsity, the search's own noise and T), this computes each
image's gradient of its share of L_ratio (softplus(r_i - eta) / B) with
respect to every mask, and prints how much of the summed gradient norm
the top 1/5/10% of images carry, and their margins against the batch's.

  .venv/bin/python tools/ratio_gradient_share.py WORKDIR [--sparsity=0.9]
      [--images=64] [--margin_floor=0] [--clip=0]

WORKDIR holds a finished stage 1 (pretrain/best.weights.h5, flags.json).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras_cv  # noqa: E402,F401  (Keras 3 before tfmot)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from csam_tf.masking import losses
from csam_tf.transforms import semantic as transforms  # noqa: E402
from csam_tf.data import pipeline  # noqa: E402
from csam_tf.data.config import DataConfig  # noqa: E402
from csam_tf.masking.masked_model import to_masked_model  # noqa: E402
from csam_tf.models import build_model  # noqa: E402
from csam_tf.transforms.ranges import family_ranges  # noqa: E402
from trainers.mask_search import MaskSearchTrainer  # noqa: E402
from trainers.mask_search_config import MaskSearchConfig  # noqa: E402


def main(argv):
  paths = [a for a in argv if not a.startswith("--")]
  options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--"))
  if len(paths) != 1 or not os.path.exists(
      os.path.join(paths[0], "pretrain/best.weights.h5")):
    sys.exit(__doc__)
  with open(os.path.join(paths[0], "flags.json")) as f:
    run = json.load(f)
  data = pipeline.load(DataConfig(dataset=run["dataset"], batch_size=128))
  network = build_model(run["arch"], data.input_shape, data.num_classes,
                        run["width_multiplier"])
  network.load_weights(os.path.join(paths[0], "pretrain/best.weights.h5"))
  cfg = MaskSearchConfig(sparsity=float(options.get("sparsity", 0.9)),
                         ratio_margin_floor=float(options.get(
                             "margin_floor", 0)),
                         ratio_clip=float(options.get("clip", 0)))
  trainer = MaskSearchTrainer(to_masked_model(network), cfg, seed=0)
  images, _ = next(iter(data.train(seed=0)))
  count = int(options.get("images", 64))
  seed = tf.constant([0, 0], tf.int64)
  transformed = transforms.random_transform(
      images, family_ranges(cfg.family, cfg.level), seed)
  masks = trainer._masks  # pylint: disable=protected-access
  both = tf.concat([images, transformed], 0)

  @tf.function
  def per_image(i):
    with tf.GradientTape() as tape:
      soft = [tf.convert_to_tensor(m) for m in masks]
      noisy1 = trainer._noisy(soft, seed, 1)  # pylint: disable=protected-access
      noisy2 = trainer._noisy(soft, seed, 2)  # pylint: disable=protected-access
      p1_x, _ = tf.split(tf.nn.softmax(trainer.forward(noisy1, both)), 2)
      _, p2_tx = tf.split(tf.nn.softmax(trainer.forward(noisy2, both)), 2)
      r = losses.ratio(p1_x, p2_tx, cfg.ratio_margin_floor, cfg.ratio_clip)
      term = tf.math.softplus(r[i] - cfg.eta) / float(images.shape[0])
    grads = tape.gradient(term, masks)
    norm = tf.sqrt(tf.add_n([tf.reduce_sum(g * g) for g in grads]))
    return norm, r[i], losses.half_top2_margin(p1_x)[i]

  rows = np.array([[float(v) for v in per_image(tf.constant(i))]
                   for i in range(count)])
  norms, ratios, margins = rows[:, 0], rows[:, 1], rows[:, 2]
  order = np.argsort(-norms)
  total = norms.sum()
  print(f"{paths[0]}: sparsity {cfg.sparsity}, {count} images, margin floor "
        f"{cfg.ratio_margin_floor}, clip {cfg.ratio_clip}")
  for share in (0.01, 0.05, 0.1):
    top = order[:max(1, int(round(share * count)))]
    print(f"  top {share:.0%} of images ({len(top)}): "
          f"{norms[top].sum() / total:.1%} of the summed gradient norm; "
          f"their median half margin {np.median(margins[top]):.4f} vs "
          f"{np.median(margins):.4f} over the batch; median r "
          f"{np.median(ratios[top]):.1f} vs {np.median(ratios):.1f}")


if __name__ == "__main__":
  main(sys.argv[1:])
