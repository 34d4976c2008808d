"""Plug-in transformations: the protocol's families are instances of the
same interface; a plug-in goes through the same sampler (same rows as the
family it copies); every way a plug-in can be wrong is one line."""

import numpy as np
import pytest

from csam_tf.certify import certificate as certify_certificate
from csam_tf.certify.config import CertifyConfig
from csam_tf.transforms import plugin
from csam_tf.transforms.ranges import family_ranges


def test_a_family_is_an_instance_of_the_interface():
  rotation = plugin.load("rotation")
  assert isinstance(rotation, plugin.ProtocolFamily)
  assert rotation.name == "rotation"
  assert rotation.ranges("L1") == family_ranges("rotation", "L1")
  custom = plugin.load("rotation", {"angle": (-5.0, 5.0)})
  assert custom.ranges("L2") == {"angle": (-5.0, 5.0)}


def _bright_or_dark(images):
  """Logits from the mean brightness: class 1 when bright."""
  mean = np.asarray(images).mean(axis=(1, 2, 3))
  return np.stack([0.5 - mean, mean - 0.5], axis=1) * 20


def test_a_plugin_goes_through_the_same_sampler_as_a_family(tmp_path):
  """The protocol's brightness under another name certifies to the same
  rows: draws come from the project's sampler, not the plug-in."""
  images = np.stack([np.full((8, 8, 1), v, np.float32)
                     for v in (0.2, 0.45, 0.62, 0.9)])
  labels = np.array([0, 0, 1, 1])
  cfg = CertifyConfig(num_images=4, nsamples=20, nbounds=2, seed=3)
  family = certify_certificate.certify_model(_bright_or_dark, images, labels,
                                 "brightness", "L2", cfg,
                                 str(tmp_path / "family.csv"))
  mine = certify_certificate.certify_model(_bright_or_dark, images, labels,
                               "sample_plugins:brightness", "L2", cfg,
                               str(tmp_path / "mine.csv"))
  for key in ("pca@0.001", "clean_accuracy", "samples_evaluated"):
    assert mine[key] == family[key], key
  assert (tmp_path / "mine.csv").read_text() == \
      (tmp_path / "family.csv").read_text()


@pytest.mark.parametrize("spec,message", [
    ("no_such_module:factory", "cannot import no_such_module"),
    ("sample_plugins:missing", "sample_plugins has no function missing"),
    ("sample_plugins:NOT_CALLABLE", "has no function NOT_CALLABLE"),
    ("sample_plugins:nameless", "lacks name, ranges"),
    ("sample_plugins:family_name", "name 'rotation' must be"),
    ("sample_plugins:", "write package.module:factory"),
    ("zoom", "unknown transformation 'zoom'"),
])
def test_a_plugin_that_cannot_be_loaded_is_one_line(spec, message):
  with pytest.raises(plugin.TransformError, match=message) as error:
    plugin.load(spec)
  assert "\n" not in str(error.value)


@pytest.mark.parametrize("factory,message", [
    ("wrong_shape", r"turned images of shape \(4, 8, 8, 1\) into "
     r"\(4, 7, 8, 1\)"),
    ("wrong_dtype", "returned uint8, not float32"),
    ("out_of_range", r"values in \[0.505, 2.49\]; images must stay in "
     r"\[0, 1\]"),
    ("random_noise", "the same parameters gave different images twice"),
    ("not_a_tensor", "apply returned list, not a tensor"),
])
def test_a_plugin_that_misbehaves_is_caught_on_probe_images(factory,
                                                            message):
  transform = plugin.load(f"sample_plugins:{factory}")
  with pytest.raises(plugin.TransformError, match=message):
    plugin.check(transform, (8, 8, 1), "L2")


def test_the_jpeg_example_passes_the_checks():
  transform = plugin.load("examples.transforms.jpeg:jpeg_quality")
  for level in ("L1", "L2"):
    plugin.check(transform, (28, 28, 1), level)
  assert transform.ranges("L2") == {"quality": (10.0, 100.0)}


def test_the_guide_example_is_a_working_plugin(tmp_path, monkeypatch):
  import re  # pylint: disable=import-outside-toplevel
  from conftest import REPO  # pylint: disable=import-outside-toplevel
  with open(f"{REPO}/docs/guides/your-transformation.md") as f:
    code = re.search(r"# mytransforms\.py.*?```", f.read(), re.S)[0][:-3]
  (tmp_path / "mytransforms.py").write_text(code)
  monkeypatch.syspath_prepend(str(tmp_path))
  transform = plugin.load("mytransforms:gamma")
  for level in ("L1", "L2"):
    plugin.check(transform, (28, 28, 1), level)
  assert transform.name == "gamma"


def test_the_learned_editor_example_trains_exports_and_passes_the_checks(
    tmp_path, monkeypatch):
  """A tiny editor (512 images, 1 epoch): strength 0 gives the image back
  exactly; any strength stays a valid, deterministic transformation."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from examples.transforms import train_editor  # pylint: disable=import-outside-toplevel
  folder = str(tmp_path / "editor")
  train_editor.train_and_export(folder, 512, 1, 8, 0, 6)
  monkeypatch.setenv("CSAM_EDITOR_DIR", folder)
  monkeypatch.setattr(plugin, "_LOADED", {})  # loaded afresh from `folder`
  transform = plugin.load("examples.transforms.learned_editor:"
                          "learned_editor")
  for level in ("L1", "L2"):
    plugin.check(transform, (28, 28, 1), level)
  images = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
  same = transform.apply(images, {"strength": tf.zeros([2])})
  np.testing.assert_array_equal(np.asarray(same), images)


def test_a_factory_that_fails_is_one_line(monkeypatch, tmp_path):
  monkeypatch.setenv("CSAM_EDITOR_DIR", str(tmp_path / "none"))
  monkeypatch.setattr(plugin, "_LOADED", {})
  with pytest.raises(plugin.TransformError, match=r"learned_editor\(\) "
                     r"failed: no editor SavedModel in .*train_editor.py"):
    plugin.load("examples.transforms.learned_editor:learned_editor")
