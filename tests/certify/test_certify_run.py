"""certify_jobs: several settings in one call (one CSV each, one table), and
a plot that keeps the certificates earlier commands made beside the new."""

import dataclasses
import os

import numpy as np

from csam_tf.certify import pca_report
from csam_tf.certify import resume as certify_resume
from csam_tf.certify import rows as csv_rows
from csam_tf.certify import run as certify_run
from csam_tf.certify.config import CertifyConfig

IMAGES = np.random.default_rng(0).uniform(0, 1, (4, 4, 4, 1)).astype(
    np.float32)
LABELS = (IMAGES.reshape(4, -1).mean(1) <= 0.5).astype(np.int64)


def bright_or_dark(images):
  """Class 0 when the image mean is above 0.5, else class 1."""
  mean = images.reshape(len(images), -1).mean(1)
  return np.stack([5.0 * mean, 5.0 * (1 - mean)], 1)


def _plotted(monkeypatch):
  """The curves' keys each plot_pca_vs_eps call receives."""
  calls = []
  monkeypatch.setattr(pca_report, "plot_pca_vs_eps",
                      lambda curves, path: calls.append(sorted(curves)))
  return calls


def test_jobs_of_other_bounds_and_blocks_in_one_call(tmp_path, monkeypatch,
                                                      capsys):
  plotted = _plotted(monkeypatch)
  base = CertifyConfig(nsamples=10, nbounds=2, batch_size=20, num_images=4,
                       families=("brightness",), levels=("L2",))
  jobs = [base, dataclasses.replace(base, families=("rotation",),
                                    levels=("L1",), bound="binomial",
                                    nbounds=3)]
  out = str(tmp_path / "certify")
  results = certify_run.certify_jobs({"dense": bright_or_dark}, IMAGES,
                                     LABELS, jobs, out)
  assert sorted(results) == ["dense_brightness_L2",
                             "dense_rotation_L1_binomial"]
  # each CSV made with its own job's settings: 2 and 3 blocks of 10
  rows = csv_rows.read_rows(os.path.join(out,
                                         "dense_rotation_L1_binomial.csv"))
  assert len(rows) == 4 and {r["samples"] for r in rows} <= {10, 20, 30}
  assert results["dense_rotation_L1_binomial"]["nbounds"] == 3
  assert results["dense_brightness_L2"]["nbounds"] == 2
  assert plotted == [sorted(results)]  # one plot, one table
  assert capsys.readouterr().out.count("model_family_level") == 1


def test_the_plot_keeps_what_earlier_commands_certified(tmp_path,
                                                        monkeypatch):
  plotted = _plotted(monkeypatch)
  cfg = CertifyConfig(nsamples=10, nbounds=2, batch_size=20, num_images=4,
                      families=("brightness",), levels=("L2",))
  out = str(tmp_path / "certify")
  certify_run.certify_models({"dense": bright_or_dark, "pruned":
                              bright_or_dark}, IMAGES, LABELS, cfg, out)
  # a worker's shard CSV is not a certificate of its own
  shard = os.path.join(out, "dense_brightness_L2.shard0of2.csv")
  open(shard, "w").write("index\n")
  open(shard + certify_resume.SUFFIX, "w").write("{}")
  certify_run.certify_models({"tflite": bright_or_dark}, IMAGES, LABELS, cfg,
                             out)
  assert plotted[-1] == ["dense_brightness_L2", "pruned_brightness_L2",
                         "tflite_brightness_L2"]
  assert sorted(certify_resume.certificate_csvs(out)) == plotted[-1]
  assert certify_resume.certificate_csvs(str(tmp_path / "none")) == {}
