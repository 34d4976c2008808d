"""Per-image certificate rows: the share of images whose every sampled
transformation is classified right (PCA's ceiling)."""

from csam_tf.certify import rows as csv_rows


def test_all_samples_correct_needs_every_sample_of_every_image():
  rows = [{"prediction": 1, "label": 1, "samples": 4, "correct_transformed": 4},
          {"prediction": 1, "label": 1, "samples": 4, "correct_transformed": 3},
          {"prediction": 2, "label": 1, "samples": 4, "correct_transformed": 0},
          {"prediction": 0, "label": 0, "samples": 4, "correct_transformed": 4}]
  assert csv_rows.all_samples_correct(rows) == 0.5
  rows[1]["samples"] = 2   # stopped early: its other samples are unknown
  assert str(csv_rows.all_samples_correct(rows)) == "nan"
