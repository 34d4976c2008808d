"""The certification sampler and CSV on a hand-made model whose answers
are known: identity transformations certify, flipping ones do not."""

import numpy as np
import pytest

from csam_tf.certify import rows as csv_rows
from csam_tf.certify import sampler as certify
from csam_tf.certify import certificate as certify_certificate
from csam_tf.certify import predictors as certify_predictors
from csam_tf.certify.config import CertifyConfig
from csam_tf.transforms.ranges import family_ranges


def bright_or_dark(images):
  """Class 0 when the image mean is above 0.5, else class 1 (margin 5)."""
  bright = images.reshape(len(images), -1).mean(1) > 0.5
  logits = np.zeros((len(images), 3), np.float32)
  logits[bright, 0] = 5.0
  logits[~bright, 1] = 5.0
  return logits


def _images(means):
  return np.stack([np.full((6, 6, 1), m, np.float32) for m in means])


CFG = CertifyConfig(nsamples=20, nbounds=5, batch_size=40, full_bounds=True)


def test_identity_transformations_certify_every_correct_image():
  images = _images([0.8, 0.2, 0.9, 0.1])
  labels = np.array([0, 1, 1, 1])  # image 2 is misclassified
  rows = certify.certify_rows(bright_or_dark, images, range(4), labels,
                              {"brightness": (0.0, 0.0)}, CFG)
  assert [r["certified"] for r in rows] == [1, 1, 0, 1]
  assert all(r["flips"] == 0 and r["samples"] == 100 for r in rows)
  # softmax of (5, 0, 0): margin (p1 - p2) / 2
  p1 = np.exp(5) / (np.exp(5) + 2)
  p2 = 1 / (np.exp(5) + 2)
  assert rows[0]["margin"] == pytest.approx((p1 - p2) / 2, rel=1e-6)
  assert rows[0]["bound"] < 1e-100
  summary = csv_rows.summarize(rows, CFG)
  assert summary["pca@0.001"] == 0.75
  assert summary["clean_accuracy"] == 0.75
  assert summary["empirical_accuracy"] == 0.75


def test_a_transformation_that_flips_is_not_certified():
  images = _images([0.4, 0.05])
  rows = certify.certify_rows(bright_or_dark, images, range(2),
                              np.array([1, 1]), {"brightness": (0.3, 0.3)},
                              CFG)
  # 0.4 + 0.3 = 0.7 turns "dark" into "bright"; 0.05 + 0.3 stays dark
  assert rows[0]["flips"] == 100 and rows[0]["bound"] == 1.0
  assert rows[0]["certified"] == 0 and rows[0]["correct_transformed"] == 0
  assert rows[1]["flips"] == 0 and rows[1]["certified"] == 1


def test_clopper_pearson_needs_more_samples_than_ccert():
  cfg = CertifyConfig(nsamples=20, nbounds=5, batch_size=40,
                      bound="clopper_pearson")
  rows = certify.certify_rows(bright_or_dark, _images([0.9]), [0],
                              np.array([0]), {"brightness": (0.0, 0.0)}, cfg)
  # no flips in 100 samples: upper bound 1 - 0.1^(1/100) = 0.0228 > 1e-3
  assert rows[0]["bound"] == pytest.approx(1 - 0.1 ** 0.01, rel=1e-9)
  assert rows[0]["certified"] == 0


def test_resumed_certification_equals_one_run(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.uniform(0.3, 0.7, (10, 6, 6, 1)).astype(np.float32)
  labels = (images.reshape(10, -1).mean(1) <= 0.5).astype(np.int64)
  cfg = CertifyConfig(nsamples=10, nbounds=3, batch_size=15,
                      images_per_group=3, num_images=10)
  whole = tmp_path / "whole.csv"
  certify_certificate.certify_model(bright_or_dark, images, labels,
                                    "brightness", "L2", cfg, str(whole))
  part = tmp_path / "part.csv"
  first = CertifyConfig(**{**cfg.__dict__, "num_images": 4})
  certify_certificate.certify_model(bright_or_dark, images, labels,
                                    "brightness", "L2", first, str(part))
  assert len(csv_rows.read_rows(str(part))) == 4  # stops at num_images
  summary = certify_certificate.certify_model(bright_or_dark, images, labels,
                                  "brightness", "L2", cfg, str(part))
  assert csv_rows.read_rows(str(part)) == csv_rows.read_rows(str(whole))
  assert summary["images"] == 10
  assert 0 < summary["empirical_accuracy_of_drawn_samples"] < 1  # some
  # draws cross 0.5 (early exit is on: no protocol empirical accuracy)
  assert summary["empirical_accuracy"] is None


def _mixed_problem():
  """Images that certify, that flip under brightness, that sit near the
  decision boundary, and one misclassified."""
  rng = np.random.default_rng(3)
  means = np.concatenate([[0.9, 0.1, 0.45, 0.55, 0.52], rng.uniform(
      0.2, 0.8, 19)])
  images = _images(means)
  labels = (means <= 0.5).astype(np.int64)
  labels[4] = 1 - labels[4]  # misclassified
  return images, labels


def test_early_exit_gives_the_same_pca_with_fewer_passes(tmp_path):
  images, labels = _mixed_problem()
  results = {}
  for full in (True, False):
    cfg = CertifyConfig(nsamples=20, nbounds=5, batch_size=100,
                        images_per_group=4, num_images=len(images),
                        full_bounds=full)
    path = tmp_path / f"full{full}.csv"
    results[full] = (certify_certificate.certify_model(
        bright_or_dark, images, labels, "brightness", "L2", cfg, str(path)),
                     csv_rows.read_rows(str(path)))
  (full_summary, full_rows), (fast_summary, fast_rows) = results[True], \
      results[False]
  for eps in ("0.01", "0.001", "0.0001"):
    assert fast_summary[f"pca@{eps}"] == full_summary[f"pca@{eps}"]
  assert 0 < full_summary["pca@0.001"] < 1
  assert fast_summary["early_exit"] and not full_summary["early_exit"]
  # the protocol's empirical accuracy needs every sample
  assert fast_summary["empirical_accuracy"] is None
  assert full_summary["empirical_accuracy"] == full_summary[
      "empirical_accuracy_of_drawn_samples"]
  assert fast_summary["samples_evaluated"] < full_summary[
      "samples_evaluated"] / 2
  for fast, full in zip(fast_rows, full_rows):
    assert fast["certified"] == full["certified"]
    if fast["complete"] and fast["prediction"] == fast["label"]:
      assert fast["bound"] == full["bound"]  # the same draws
    elif fast["prediction"] != fast["label"]:
      assert fast["samples"] == 0 and np.isnan(fast["bound"])
    else:  # stopped at a block whose bound already rules eps out
      assert fast["samples"] < 100 and fast["bound"] >= 1e-2
      assert fast["bound"] <= full["bound"]
  assert fast_rows[4]["samples"] == 0  # the misclassified image


def test_pca_above_the_exit_threshold_is_unknown():
  rows = [{"prediction": 0, "label": 0, "bound": 0.05, "complete": 0},
          {"prediction": 0, "label": 0, "bound": 1e-5, "complete": 1}]
  pca = csv_rows.pca_at(rows, [1e-4, 1e-2, 0.1])
  assert list(pca[:2]) == [0.5, 0.5] and np.isnan(pca[2])


def test_rows_written_before_early_exit_read_as_complete(tmp_path):
  path = tmp_path / "old.csv"
  path.write_text("index,label,prediction,margin,bound,flips,"
                  "correct_transformed,samples,certified\n"
                  "0,1,1,0.4,1e-05,0,1000,1000,1\n")
  assert csv_rows.read_rows(str(path))[0]["complete"] == 1


def smooth_row_wise(images):
  """Logits that move continuously with the image, computed row by row
  (numpy reduces each row alone), so any batch gives the same bits."""
  flat = images.reshape(len(images), -1).astype(np.float64)
  half = flat[:, :flat.shape[1] // 2].mean(1)
  mean = flat.mean(1)
  return np.stack([8 * mean, 8 * (1 - mean), 6 * half], axis=1)


def _batch_size_runs(early_exit):
  rng = np.random.default_rng(1)
  images = rng.uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
  images[1] *= 0.2  # a dark image: a large margin, certified
  labels = smooth_row_wise(images).argmax(1)
  labels[3] = (labels[3] + 1) % 3  # one misclassified
  ranges = family_ranges("composite", "L2")
  runs = []
  for batch_size in (7, 100, 1000):
    cfg = CertifyConfig(nsamples=100, nbounds=10, batch_size=batch_size,
                        full_bounds=not early_exit, seed=5)
    stats = certify.sample_statistics(
        smooth_row_wise, images, [10, 11, 12, 13], labels, ranges, cfg,
        certify.exit_threshold(cfg))
    rows = certify.certify_rows(smooth_row_wise, images, [10, 11, 12, 13],
                                labels, ranges, cfg)
    runs.append((stats, rows))
  return runs


def test_draws_do_not_depend_on_the_batch_size():
  runs = _batch_size_runs(early_exit=False)
  stats, rows = runs[0]
  assert np.isfinite(stats["y"]).all()
  assert [r["certified"] for r in rows] == [0, 1, 0, 0]  # both verdicts
  for other_stats, other_rows in runs[1:]:
    np.testing.assert_array_equal(other_stats["y"], stats["y"])
    assert _nan_as_none(other_rows) == _nan_as_none(rows)  # bit for bit


def test_early_exit_does_not_depend_on_the_batch_size():
  """Early exit counts block by block, so it stops at the same block
  whatever the batch: the same samples, Y values, bounds and verdicts."""
  runs = _batch_size_runs(early_exit=True)
  stats, rows = runs[0]
  assert [r["certified"] for r in rows] == [0, 1, 0, 0]
  assert [r["samples"] for r in rows] == [100, 1000, 100, 0]
  for other_stats, other_rows in runs[1:]:
    np.testing.assert_array_equal(other_stats["y"], stats["y"])
    assert _nan_as_none(other_rows) == _nan_as_none(rows)


def _nan_as_none(rows):
  return [{k: None if isinstance(v, float) and np.isnan(v) else v
           for k, v in row.items()} for row in rows]


def test_draw_j_of_an_image_is_the_same_for_any_number_of_draws():
  ranges = family_ranges("composite", "L2")
  short = certify.image_draws(ranges, 3, 42, 7)
  long = certify.image_draws(ranges, 3, 42, 2400)
  other_image = certify.image_draws(ranges, 3, 43, 7)
  other_seed = certify.image_draws(ranges, 4, 42, 7)
  for name in ranges:
    np.testing.assert_array_equal(long[name].numpy()[:7], short[name].numpy())
    assert not np.array_equal(other_image[name].numpy(), short[name].numpy())
    assert not np.array_equal(other_seed[name].numpy(), short[name].numpy())


def test_binomial_bound_counts_y_at_or_above_the_half_margin():
  """Zero violations in 2,400 samples: 1 - 0.1^(1/2400) = 9.59e-4 < 1e-3
  (certified); in 1,000 samples 2.30e-3 (not); a transformation that moves
  p by more than a is a violation in every sample (bound 1)."""
  images = _images([0.9, 0.9, 0.4])
  labels = np.array([0, 0, 1])
  ranges = {"brightness": (0.0, 0.0)}
  big = CertifyConfig(nsamples=100, nbounds=24, batch_size=1000,
                      bound="binomial")
  rows = certify.certify_rows(bright_or_dark, images, range(3), labels,
                              ranges, big)
  assert rows[0]["bound"] == pytest.approx(1 - 0.1 ** (1 / 2400), rel=1e-9)
  assert rows[0]["certified"] == 1 and rows[0]["samples"] == 2400
  small = CertifyConfig(nsamples=100, nbounds=10, bound="binomial")
  row = certify.certify_rows(bright_or_dark, images[:1], [0], labels[:1],
                             ranges, small)[0]
  assert row["bound"] == pytest.approx(1 - 0.1 ** (1 / 1000), rel=1e-9)
  assert row["certified"] == 0
  flipped = certify.certify_rows(bright_or_dark, images[2:], [2], labels[2:],
                                 {"brightness": (0.3, 0.3)}, big)[0]
  # early exit: the first block already rules 1e-2 out
  assert flipped["samples"] == 100 and flipped["certified"] == 0
  assert flipped["bound"] >= 1e-2 and not flipped["complete"]


def test_binomial_certificates_have_their_own_csv_name():
  from csam_tf.certify.resume import certificate_key
  assert certificate_key("pruned", "composite", "L2") == \
      "pruned_composite_L2"
  assert certificate_key("pruned", "composite", "L2", "binomial") == \
      "pruned_composite_L2_binomial"


def test_first_images_come_from_the_split_asked_for():
  """Settings are chosen on validation images, tables on test images."""
  from csam_tf.data import pipeline
  from csam_tf.data.config import DataConfig
  data = pipeline.load(DataConfig(train_subset=256, eval_subset=64))
  for split in ("validation", "test"):
    images, labels = certify_certificate.first_images(data, 10, split)
    expected = next(iter(data.evaluation(split)))
    np.testing.assert_array_equal(images, expected[0].numpy()[:10])
    np.testing.assert_array_equal(labels, expected[1].numpy()[:10])
  assert not np.array_equal(
      certify_certificate.first_images(data, 10, "validation")[0],
      certify_certificate.first_images(data, 10, "test")[0])


def test_protocol_draws_go_through_the_patchable_copies_function(tmp_path):
  """csam_tf.step_profile times the transformation by patching
  `_transformed_copies`: a certification after the first must still call
  it (not a cached copy)."""
  from unittest import mock  # pylint: disable=import-outside-toplevel
  images, labels = _images([0.3]), np.array([0])
  cfg = CertifyConfig(num_images=1, nsamples=10, nbounds=1,
                      full_bounds=True)
  certify_certificate.certify_model(bright_or_dark, images, labels,
                                    "brightness", "L2", cfg,
                                    str(tmp_path / "first.csv"))
  real, calls = certify._transformed_copies, []  # pylint: disable=protected-access
  with mock.patch.object(certify, "_transformed_copies",
                         lambda *a: calls.append(1) or real(*a)):
    certify_certificate.certify_model(bright_or_dark, images, labels,
                                      "brightness", "L2", cfg,
                                      str(tmp_path / "second.csv"))
  assert calls == [1]


def test_a_keras_model_with_batchnorm_and_its_tflite_certify_alike_at_any_batch(
    tmp_path):
  """Batch independence with real predictors, not only row-wise numpy: a
  tf_keras model with BatchNorm (inference mode) through KerasPredictor,
  and its .tflite through LiteRT, at 7 and 1,000 transformed images a
  forward pass. On the AMD EPYC (AVX-512) these are bit-identical; a CPU
  whose kernels round by batch may differ in the last bits, so Y is held
  to 1e-6 and the verdicts, predictions and flip counts exactly."""
  import csam_tf  # pylint: disable=import-outside-toplevel
  import tf_keras  # pylint: disable=import-outside-toplevel
  from csam_tf.export import LiteRTModel  # pylint: disable=import-outside-toplevel
  L = tf_keras.layers
  tf_keras.utils.set_random_seed(0)
  model = tf_keras.Sequential([
      tf_keras.Input((8, 8, 1)), L.Conv2D(8, 3, padding="same"),
      L.BatchNormalization(), L.ReLU(), L.Conv2D(8, 3),
      L.BatchNormalization(), L.ReLU(), L.GlobalAveragePooling2D(),
      L.Dense(3)])
  rng = np.random.default_rng(0)
  for layer in model.layers:
    if isinstance(layer, L.BatchNormalization):  # statistics of its own
      layer.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.2, 8),
                         rng.normal(0, 0.1, 8), rng.uniform(0.5, 2, 8)])
  (tmp_path / "m.tflite").write_bytes(csam_tf.export_tflite(model))
  images = rng.uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
  keras = certify_predictors.KerasPredictor(model, (8, 8, 1))
  labels = keras(images).argmax(1)
  ranges = family_ranges("composite", "L2")
  for predict in (keras, LiteRTModel(str(tmp_path / "m.tflite"))):
    runs = []
    for batch_size in (7, 1000):
      cfg = CertifyConfig(nsamples=100, nbounds=10, batch_size=batch_size,
                          full_bounds=True, seed=5)
      stats = certify.sample_statistics(predict, images, [0, 1, 2, 3],
                                        labels, ranges, cfg,
                                        certify.exit_threshold(cfg))
      rows = certify.certify_rows(predict, images, [0, 1, 2, 3], labels,
                                  ranges, cfg)
      runs.append((stats["y"], rows))
    (y7, rows7), (y1000, rows1000) = runs
    assert y7.shape == (4, 1000) and np.isfinite(y7).all()
    np.testing.assert_allclose(y7, y1000, rtol=0, atol=1e-6)
    for key in ("prediction", "flips", "correct_transformed", "certified"):
      assert [r[key] for r in rows7] == [r[key] for r in rows1000], key
