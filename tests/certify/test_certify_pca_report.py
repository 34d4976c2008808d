"""Certification outputs for people: PCA curve, table, plot, TensorBoard."""

import os

import numpy as np

from csam_tf.certify import pca_report


ROWS = [{"label": 0, "prediction": 0, "bound": 1e-5},
        {"label": 1, "prediction": 1, "bound": 0.05},
        {"label": 2, "prediction": 1, "bound": 1e-9},   # wrong: never counts
        {"label": 3, "prediction": 3, "bound": 1.0}]


def test_pca_curve_counts_correct_images_below_eps():
  curve = pca_report.pca_curve(ROWS, np.array([1e-6, 1e-4, 0.1, 1.0]))
  np.testing.assert_allclose(curve, [0.0, 0.25, 0.5, 0.5])


def test_table_plot_and_tensorboard(tmp_path):
  results = {"dense_composite_L2": {
      "images": 4, "clean_accuracy": 0.75, "empirical_accuracy": 0.7,
      "pca@0.001": 0.25, "throughput_ratio": 0.91}}
  text = pca_report.table(results, 1e-3)
  assert "dense_composite_L2" in text and "0.2500" in text and "0.91" in text
  path = tmp_path / "pca.png"
  pca_report.plot_pca_vs_eps(
      {"dense_composite_L2": pca_report.pca_curve(ROWS),
       "pruned_composite_L2": pca_report.pca_curve(ROWS[:2])}, str(path))
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  pca_report.write_tensorboard(results, 1e-3, str(tmp_path / "tb"))
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  (events,) = os.listdir(tmp_path / "tb")
  written = {}
  for event in tf.compat.v1.train.summary_iterator(
      str(tmp_path / "tb" / events)):
    for value in event.summary.value:
      written[value.tag] = value
  assert sorted(written) == ["certification",
                             "dense_composite_L2/clean_accuracy",
                             "dense_composite_L2/empirical_accuracy",
                             "dense_composite_L2/pca@0.001"]
  scalar = tf.make_ndarray(written["dense_composite_L2/pca@0.001"].tensor)
  assert float(scalar) == 0.25
  text = tf.make_ndarray(written["certification"].tensor).item().decode()
  assert "dense_composite_L2" in text and "0.2500" in text
