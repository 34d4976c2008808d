"""CC-Cert and Clopper-Pearson bounds against direct float64 computations."""

import numpy as np
import pytest
from scipy import stats

from csam_tf.certify import bounds as certify_bounds


def _direct(y, a, nbounds, nsamples, delta, t_grid):
  """The protocol's formula written out plainly (small t only)."""
  bounds = []
  for yi, ai in zip(y, a):
    blocks = yi.reshape(nbounds, nsamples)
    b = [min(np.mean(np.exp(t * (block - ai))) for t in t_grid)
         for block in blocks]
    bounds.append(min(1.0, max(b) / delta))
  return np.array(bounds)


def test_matches_the_direct_formula_on_small_arrays():
  rng = np.random.default_rng(0)
  y = rng.uniform(0, 0.3, (4, 3 * 5))
  a = np.array([0.05, 0.2, 0.4, 0.45])
  t_grid = np.linspace(1e-4, 50, 200)  # small t: the direct form is safe
  got = certify_bounds.cc_cert_bound(y, a, 3, 5, 0.9, t_grid)
  np.testing.assert_allclose(got, _direct(y, a, 3, 5, 0.9, t_grid),
                             rtol=1e-10)


def test_all_zero_y_gives_a_tiny_bound():
  # Y = 0: b = min_t exp(-t a) = exp(-1e4 * a) on the default grid
  y = np.zeros((2, 10 * 100))
  bound = certify_bounds.cc_cert_bound(y, np.array([0.3, 0.01]), 10, 100)
  assert bound[0] == pytest.approx(np.exp(-1e4 * 0.3) / 0.9, rel=1e-9) \
      or bound[0] == 0.0  # exp(-3000) underflows to 0 in float64
  assert bound[1] == pytest.approx(np.exp(-1e4 * 0.01) / 0.9, rel=1e-9)
  assert bound[1] < 1e-40


def test_y_above_the_margin_gives_one():
  y = np.full((1, 4 * 25), 0.5)
  assert certify_bounds.cc_cert_bound(y, np.array([0.1]), 4, 25)[0] == 1.0


def test_extreme_values_never_overflow_or_nan():
  y = np.array([[0.0, 1.0] * 50, [1.0] * 100, [0.0] * 100])
  a = np.array([0.0, 0.5, 0.5])
  t_grid = np.array([1e-12, 1e4, 1e6])
  bound = certify_bounds.cc_cert_bound(y, a, 2, 50, t_grid=t_grid)
  assert np.all(np.isfinite(bound)) and np.all((bound >= 0) & (bound <= 1))
  assert bound[0] == 1.0 and bound[1] == 1.0
  assert bound[2] == 0.0  # exp(-5e5) underflows: certified at any eps


def _direct_bound(y, a, nbounds, nsamples, delta=0.9):
  """min(1, max_k min_t mean_j exp(t (Y_j - a)) / delta), written out
  (float64, t on the protocol's grid), for one image."""
  t = np.linspace(1e-4, 1e4, 500)[:, None]
  blocks = y.reshape(nbounds, nsamples)
  with np.errstate(over="ignore"):
    b = [np.min(np.mean(np.exp(t * (block - a)), axis=1)) for block in blocks]
  return min(1.0, max(b) / delta)


def test_bound_grows_with_y_from_certified_to_one():
  """Shifting every Y up moves the bound from far below eps to 1, strictly
  in between, with the values the direct formula gives (a bound stuck at
  any constant fails this)."""
  rng = np.random.default_rng(1)
  y = rng.uniform(0, 0.2, (1, 2 * 50))
  a = np.array([0.25])
  bounds = []
  for shift in np.linspace(0, 0.3, 13):
    shifted = np.clip(y + shift, 0, 1)
    bound = certify_bounds.cc_cert_bound(shifted, a, 2, 50)[0]
    assert bound == pytest.approx(_direct_bound(shifted[0], a[0], 2, 50),
                                  rel=1e-6, abs=1e-300)
    bounds.append(bound)
  assert bounds[0] < 1e-3 and bounds[-1] == 1.0
  below_one = [b for b in bounds if b < 1.0]
  assert len(below_one) >= 3
  assert all(x < y_ for x, y_ in zip(below_one, below_one[1:]))


def test_the_worst_block_decides():
  good = np.zeros(50)
  bad = np.full(50, 0.3)
  y = np.concatenate([good, bad])[None]
  both = certify_bounds.cc_cert_bound(y, np.array([0.2]), 2, 50)
  assert both[0] == 1.0


def test_shape_and_delta_are_checked():
  with pytest.raises(ValueError, match="nbounds \\* nsamples"):
    certify_bounds.cc_cert_bound(np.zeros((1, 10)), np.zeros(1), 2, 4)
  with pytest.raises(ValueError, match="delta"):
    certify_bounds.cc_cert_bound(np.zeros((1, 8)), np.zeros(1), 2, 4, 0.0)


def test_clopper_pearson_against_scipy_beta():
  flips = np.array([0, 1, 5, 1000])
  got = certify_bounds.clopper_pearson_upper(flips, 1000, 0.9)
  for k, value in zip(flips[:3], got[:3]):
    assert value == pytest.approx(stats.beta.ppf(0.9, k + 1, 1000 - k),
                                  rel=1e-12)
  assert got[0] == pytest.approx(1 - 0.1 ** (1 / 1000), rel=1e-9)
  assert got[3] == 1.0
  with pytest.raises(ValueError):
    certify_bounds.clopper_pearson_upper(np.array([1001]), 1000)
