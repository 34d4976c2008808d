"""Mask initialisation on known kernels."""

import numpy as np
import pytest

from csam_tf.masking import mask_init


def test_percentile_init_on_a_known_kernel():
  w = np.array([-4, -3, -2, -1, 0, 1, 2, 3, 4, 5], np.float32)
  # |w| sorted: 0 1 1 2 2 3 3 4 4 5; 30th percentile at 2.7: 1 + 0.7 = 1.7
  mask = mask_init.initial_mask(w, w.shape, "percentile", 30,
                                np.random.default_rng(0))
  expected = np.clip(np.abs(w) / 1.7, 0, 1)
  np.testing.assert_allclose(mask, expected, rtol=1e-6)
  assert mask[3] == pytest.approx(1 / 1.7) and mask[4] == 0.0
  assert np.sum(mask == 1.0) == 7     # all |w| >= 2


def test_tau_zero_opens_everything_but_zeros():
  w = np.array([0.0, 0.5, -2.0])
  mask = mask_init.percentile_mask(np.abs(w), 0)
  np.testing.assert_array_equal(mask, [0.0, 1.0, 1.0])


def test_channel_scores_are_filter_norms():
  kernel = np.zeros((1, 1, 2, 3), np.float32)
  kernel[0, 0, :, 0] = [3, 4]     # norm 5
  kernel[0, 0, :, 1] = [1, 0]     # norm 1
  np.testing.assert_allclose(mask_init.channel_scores(kernel), [5, 1, 0])
  depthwise = np.zeros((3, 3, 2, 1), np.float32)
  depthwise[:, :, 1, 0] = 1.0     # channel 1: norm 3
  np.testing.assert_allclose(
      mask_init.channel_scores(depthwise, depthwise=True), [0, 3])


def test_channel_mask_shape_and_values():
  kernel = np.zeros((1, 1, 2, 3), np.float32)
  kernel[0, 0, :, 0] = [3, 4]
  kernel[0, 0, :, 1] = [1, 0]
  kernel[0, 0, :, 2] = [0, 2]
  # scores 5, 1, 2; 50th percentile = 2 -> [1, 0.5, 1]
  mask = mask_init.initial_mask(kernel, (3,), "percentile", 50,
                                np.random.default_rng(0))
  np.testing.assert_allclose(mask, [1.0, 0.5, 1.0])


def test_random_and_ones():
  rng = np.random.default_rng(0)
  ones = mask_init.initial_mask(np.zeros(5), (5,), "ones", 30, rng)
  np.testing.assert_array_equal(ones, np.ones(5))
  random = mask_init.initial_mask(np.zeros(1000), (1000,), "random", 30, rng)
  assert 0.0 <= random.min() and random.max() <= 1.0
  assert 0.45 < random.mean() < 0.55
  with pytest.raises(ValueError, match="unknown mask init"):
    mask_init.initial_mask(np.zeros(5), (5,), "magnitude", 30, rng)
