"""Each C-SAM loss term against values computed by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from csam_tf.masking import losses


def _t(values):
  return tf.constant(values, tf.float32)


def test_mask_noise_variance_of_opposite_predictions():
  # pbar = [.5, .5]; each ||p_k - pbar||^2 = 0.5; (0.5 + 0.5) / 2 = 0.5
  value = losses.mask_noise_variance(_t([[1.0, 0.0]]), _t([[0.0, 1.0]]))
  assert float(value[0]) == pytest.approx(0.5)


def test_stability_loss_averages_clean_and_transformed():
  # clean pair varies (0.5), transformed pair agrees (0): mean 0.25
  p1_x, p2_x = _t([[1.0, 0.0]]), _t([[0.0, 1.0]])
  p_tx = _t([[0.3, 0.7]])
  assert float(losses.stability_loss(p1_x, p2_x, p_tx, p_tx)) == \
      pytest.approx(0.25)
  # 0.6/0.4 vs 0.4/0.6: ||p1-p2||^2 / 4 = (0.04 + 0.04) / 4 = 0.02
  p1, p2 = _t([[0.6, 0.4]]), _t([[0.4, 0.6]])
  assert float(losses.stability_loss(p1, p2, p1, p2)) == pytest.approx(0.02)


def test_half_top2_margin():
  margin = losses.half_top2_margin(_t([[0.7, 0.2, 0.1], [0.1, 0.45, 0.45]]))
  np.testing.assert_allclose(margin.numpy(), [0.25, 0.0], atol=1e-7)


def test_ratio_and_ratio_loss():
  p_x, p_tx = _t([[0.7, 0.2, 0.1]]), _t([[0.5, 0.4, 0.1]])
  # sup-norm shift 0.2 over margin 0.25 (+1e-6)
  r = 0.2 / (0.25 + 1e-6)
  assert float(losses.ratio(p_x, p_tx)[0]) == pytest.approx(r, rel=1e-6)
  expected = math.log(1 + math.exp(r - 1.0))
  assert float(losses.ratio_loss(p_x, p_tx, eta=1.0)) == pytest.approx(
      expected, rel=1e-6)
  # a larger eta tolerates more shift
  assert float(losses.ratio_loss(p_x, p_tx, eta=1.05)) < expected


def test_consistency_kl_and_mse():
  soft = _t([[0.0, 0.0]])                 # p = [.5, .5]
  binary = _t([[math.log(3.0), 0.0]])     # p = [.75, .25]
  kl = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
  assert float(losses.consistency_loss(soft, binary, "kl")) == \
      pytest.approx(kl, rel=1e-5)
  assert float(losses.consistency_loss(soft, binary, "mse")) == \
      pytest.approx(0.125, rel=1e-5)
  assert float(losses.consistency_loss(soft, soft, "kl")) == \
      pytest.approx(0.0, abs=1e-7)
  with pytest.raises(ValueError, match="unknown consistency"):
    losses.consistency_loss(soft, soft, "l2")


def test_sparsity_loss_is_the_mean_over_all_entries():
  masks = [_t([1.0, 0.0]), _t([[1.0, 1.0], [0.0, 1.0]])]
  assert float(losses.sparsity_loss(masks)) == pytest.approx(4.0 / 6.0)


def test_cross_entropy_hand_computed():
  logits = _t([[2.0, 0.0], [0.0, 1.0]])
  expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2
  assert float(losses.cross_entropy(tf.constant([0, 1]), logits)) == \
      pytest.approx(expected, rel=1e-6)
