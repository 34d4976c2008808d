"""A certification CSV resumes only with the settings and the model it was
made with; anything else is refused before an image is certified."""

import dataclasses
import os
import re
import shutil

import numpy as np
import pytest

from csam_tf.certify import resume as certify_resume
from csam_tf.certify import rows as csv_rows
from csam_tf.certify import certificate as certify_certificate
from csam_tf.certify.config import CertifyConfig
from csam_tf.core.errors import UsageError


class Model:
  """Class 0 when the image mean is above 0.5; `fingerprint` names it."""

  def __init__(self, fingerprint="model-a", scale=5.0):
    self.fingerprint = fingerprint
    self.scale = scale
    self.calls = 0
    self.images = 0   # images passed through the model, over all calls

  def __call__(self, images):
    self.calls += 1
    self.images += len(images)
    mean = images.reshape(len(images), -1).mean(1)
    return np.stack([self.scale * mean, self.scale * (1 - mean)], 1)


CFG = CertifyConfig(nsamples=10, nbounds=2, batch_size=20, num_images=6,
                    images_per_group=2)
IMAGES = np.random.default_rng(0).uniform(0, 1, (6, 4, 4, 1)).astype(
    np.float32)
LABELS = (IMAGES.reshape(6, -1).mean(1) <= 0.5).astype(np.int64)


def _certify(path, cfg=CFG, model=None, level="L2", family="brightness"):
  return certify_certificate.certify_model(model or Model(), IMAGES, LABELS,
                                           family, level, cfg, str(path))


def _half_done(tmp_path):
  """A CSV cut after 2 of 6 images, as a killed run leaves it."""
  path = tmp_path / "pruned_brightness_L2.csv"
  _certify(path, dataclasses.replace(CFG, num_images=2))
  assert len(csv_rows.read_rows(str(path))) == 2
  return path


@pytest.mark.parametrize("change,message", [
    ({"nsamples": 20}, "nsamples=10, not 20"),
    ({"nbounds": 3}, "nbounds=2, not 3"),
    ({"delta": 0.5}, "delta=0.9, not 0.5"),
    ({"bound": "clopper_pearson"}, "bound='ccert', not 'clopper_pearson'"),
    ({"seed": 1}, "seed=0, not 1"),
    ({"eps": 1e-2}, "eps=0.001, not 0.01"),
])
def test_other_settings_are_refused_and_the_csv_is_left_alone(
    tmp_path, change, message):
  path = _half_done(tmp_path)
  before = path.read_bytes()
  model = Model()
  with pytest.raises(UsageError, match=message.replace("(", r"\(")):
    _certify(path, dataclasses.replace(CFG, **change), model)
  assert model.calls == 0 and path.read_bytes() == before


def test_other_transformation_ranges_are_refused(tmp_path):
  path = _half_done(tmp_path)
  with pytest.raises(UsageError, match="certified with level='L2', not 'L1'"):
    _certify(path, level="L1")


def test_another_model_is_refused(tmp_path):
  path = _half_done(tmp_path)
  with pytest.raises(UsageError, match="certified on another model"):
    _certify(path, model=Model("model-b"))


def test_a_csv_without_recorded_settings_is_refused(tmp_path):
  path = _half_done(tmp_path)
  os.remove(certify_resume.settings_path(str(path)))
  with pytest.raises(UsageError, match="no record of the settings"):
    _certify(path)


def test_the_same_settings_resume_and_a_faster_batch_is_fine(tmp_path):
  first = Model()
  path = tmp_path / "pruned_brightness_L2.csv"
  _certify(path, dataclasses.replace(CFG, num_images=2), first)
  slow = tmp_path / "slow.csv"
  shutil.copy(path, slow)
  shutil.copy(certify_resume.settings_path(str(path)),
              certify_resume.settings_path(str(slow)))
  _certify(slow, dataclasses.replace(CFG, batch_size=7))
  model = Model()
  _certify(path, model=model)
  whole, every = tmp_path / "whole.csv", Model()
  _certify(whole, model=every)
  assert csv_rows.read_rows(str(path)) == csv_rows.read_rows(str(whole))
  assert csv_rows.read_rows(str(slow)) == csv_rows.read_rows(str(whole))
  # the resumed run certified the 4 images not yet written, and only them:
  # the images it passed through the model are the whole run's less those
  # of the 2 rows it found (each image's clean pass and its samples)
  assert first.images > 2 and model.images == every.images - first.images
  assert _certify(path, model=model)["images"] == 6  # nothing left to do
  assert model.images == every.images - first.images


def test_restart_keeps_the_old_csv_and_starts_again(tmp_path):
  path = _half_done(tmp_path)
  before = path.read_bytes()
  changed = dataclasses.replace(CFG, nsamples=30, restart=True)
  summary = _certify(path, changed, Model("model-b"))
  assert summary["images"] == 6 and summary["nsamples"] == 30
  assert (tmp_path / "pruned_brightness_L2.csv.old").read_bytes() == before
  assert {r["samples"] for r in csv_rows.read_rows(str(path))} <= {0, 30, 60}
  # the new settings are the ones recorded: resuming with them is fine
  _certify(path, dataclasses.replace(changed, restart=False),
           Model("model-b"))


def _settings(**change):
  from csam_tf.transforms import ranges as transform_ranges
  cfg = dataclasses.replace(CFG, **{k: v for k, v in change.items()
                                    if k in ("split",)})
  ranges = change.get("ranges") or transform_ranges.family_ranges(
      "brightness", "L2")
  return certify_resume.csv_settings(cfg, change.get("family", "brightness"),
                                     "L2", ranges, "model-a")


def test_the_settings_name_everything_that_decides_the_rows():
  assert set(_settings()) == {
      "draws_version", "family", "level", "ranges", "nsamples", "nbounds",
      "delta", "bound", "eps", "seed", "split", certify_resume.MODEL_KEY}


@pytest.mark.parametrize("change,message", [
    ({"split": "validation"}, "split='test', not 'validation'"),
    ({"family": "contrast"}, "family='brightness', not 'contrast'"),
    ({"ranges": {"brightness": (-0.1, 0.1)}}, "ranges="),
])
def test_split_family_and_ranges_each_alone_are_refused(tmp_path, change,
                                                        message):
  path = tmp_path / "rows.csv"
  path.write_text("index\n0\n")
  certify_resume.start(str(path), _settings(), restart=False)
  changed = _settings(**change)
  assert [k for k in changed if changed[k] != _settings()[k]] == [
      next(iter(change))]   # only that setting differs
  with pytest.raises(UsageError, match=re.escape(message)):
    certify_resume.check_resumable(str(path), changed)
  certify_resume.check_resumable(str(path), _settings())  # the same: fine
