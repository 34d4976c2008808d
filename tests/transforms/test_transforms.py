"""Semantic transformations: identity, hand-checked outputs, ranges,
determinism, and use inside tf.data and tf.function."""

import numpy as np
import pytest
import tensorflow as tf

import keras_cv
from csam_tf.transforms import semantic as transforms
from csam_tf.transforms.ranges import family_ranges, IDENTITY


def _images(batch=3, size=9, channels=1, seed=0):
  return np.random.default_rng(seed).uniform(
      0.05, 0.95, (batch, size, size, channels)).astype(np.float32)


def test_identity_parameters_return_the_input():
  images = _images(channels=3)
  params = {k: tf.fill([3], v) for k, v in IDENTITY.items()}
  out = transforms.apply_params(images, params).numpy()
  np.testing.assert_allclose(out, images, atol=1e-6)


def test_brightness_adds_delta_and_clips():
  images = np.array([0.2, 0.95], np.float32).reshape(1, 1, 2, 1)
  out = transforms.apply_params(images, {"brightness": tf.constant([0.1])})
  np.testing.assert_allclose(out.numpy().ravel(), [0.3, 1.0], atol=1e-7)


def test_contrast_scales_about_the_image_mean():
  # mean 0.3; factor 2: 0.3 + 2 * (v - 0.3)
  images = np.array([0.2, 0.4, 0.3, 0.3], np.float32).reshape(1, 2, 2, 1)
  out = transforms.apply_params(images, {"contrast": tf.constant([2.0])})
  np.testing.assert_allclose(out.numpy().ravel(), [0.1, 0.5, 0.3, 0.3],
                             atol=1e-6)


def test_integer_translation_shifts_with_zero_fill():
  images = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4, 1) / 16
  out = transforms.apply_params(images, {"dx": tf.constant([1.0]),
                                         "dy": tf.constant([-1.0])})
  expected = np.zeros((4, 4), np.float32)
  expected[:3, 1:] = images[0, 1:, :3, 0]  # right by 1, up by 1
  np.testing.assert_allclose(out.numpy()[0, :, :, 0], expected, atol=1e-6)


def test_rotation_by_90_degrees_is_rot90_counter_clockwise():
  images = _images(batch=1, size=5)
  out = transforms.apply_params(images, {"angle": tf.constant([90.0])})
  np.testing.assert_allclose(out.numpy()[0, :, :, 0],
                             np.rot90(images[0, :, :, 0]), atol=1e-5)


def test_rotation_matches_keras_cv_random_rotation():
  images = _images(batch=2, size=12, channels=3)
  angles = np.array([13.0, -7.5], np.float32)
  ours = transforms.apply_params(images, {"angle": tf.constant(angles)})
  layer = keras_cv.layers.RandomRotation(
      factor=0.0, fill_mode="constant", interpolation="bilinear")
  theirs = layer.augment_images(
      tf.constant(images), transformations={"angles": np.deg2rad(angles)})
  np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)


def test_gaussian_kernel_matches_hand_computed_weights():
  kernel = transforms.gaussian_kernel_1d(tf.constant([1.0, 0.0])).numpy()
  raw = np.exp(-np.array([4, 1, 0, 1, 4]) / 2.0)
  np.testing.assert_allclose(kernel[0], raw / raw.sum(), rtol=1e-6)
  np.testing.assert_allclose(kernel[1], [0, 0, 1, 0, 0], atol=1e-7)


def test_blur_of_a_point_is_the_outer_product_of_the_kernel():
  images = np.zeros((1, 9, 9, 1), np.float32)
  images[0, 4, 4, 0] = 1.0
  out = transforms.apply_params(images, {"sigma": tf.constant([1.0])})
  k = transforms.gaussian_kernel_1d(tf.constant([1.0])).numpy()[0]
  np.testing.assert_allclose(out.numpy()[0, 2:7, 2:7, 0], np.outer(k, k),
                             atol=1e-6)
  assert out.numpy().sum() == pytest.approx(1.0, abs=1e-5)


def test_blur_pads_by_reflection_so_a_flat_image_stays_flat():
  images = np.full((1, 6, 6, 1), 0.7, np.float32)
  out = transforms.apply_params(images, {"sigma": tf.constant([1.0])})
  np.testing.assert_allclose(out.numpy(), images, atol=1e-6)


@pytest.mark.parametrize("family", ["brightness", "contrast", "rotation",
                                    "translation", "blur", "composite"])
@pytest.mark.parametrize("level", ["L1", "L2"])
def test_sampled_parameters_stay_in_range(family, level):
  ranges = family_ranges(family, level)
  params = transforms.sample_params(ranges, 2000, [1, 2])
  assert set(params) == set(ranges)
  for name, (low, high) in ranges.items():
    values = params[name].numpy()
    assert values.min() >= low and values.max() <= high
    # the draw covers the range (uniform: about 1/2000 of it uncovered)
    assert values.min() < low + 0.01 * (high - low)
    assert values.max() > high - 0.01 * (high - low)


def test_same_seed_same_output_other_seed_other_output():
  images = _images(batch=4)
  ranges = family_ranges("composite", "L2")
  a = transforms.random_transform(images, ranges, [3, 4]).numpy()
  b = transforms.random_transform(images, ranges, [3, 4]).numpy()
  c = transforms.random_transform(images, ranges, [3, 5]).numpy()
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  assert a.min() >= 0.0 and a.max() <= 1.0


def test_works_inside_tf_data_and_tf_function():
  images = _images(batch=4)
  ranges = family_ranges("composite", "L1")
  eager = transforms.random_transform(images, ranges, [7, 7]).numpy()
  graph = tf.function(lambda x: transforms.random_transform(x, ranges, [7, 7]))
  np.testing.assert_allclose(graph(images).numpy(), eager, atol=1e-6)
  ds = tf.data.Dataset.from_tensors(images).map(
      lambda x: transforms.random_transform(x, ranges, [7, 7]))
  np.testing.assert_allclose(next(iter(ds)).numpy(), eager, atol=1e-6)


def test_augmenter_transforms_about_the_given_fraction():
  images = _images(batch=1000, size=4)
  out = transforms.augmenter(family_ranges("brightness", "L2"), 0.3)(
      images, tf.constant([0, 1], tf.int64)).numpy()
  changed = np.any(out != images, axis=(1, 2, 3)).mean()
  assert 0.25 < changed < 0.35


def test_unknown_parameter_is_refused():
  with pytest.raises(ValueError, match="unknown transformation parameters"):
    transforms.apply_params(_images(), {"zoom": tf.constant([1.0])})
