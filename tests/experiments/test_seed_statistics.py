"""Cells over seeds and the exact sign test, hand-computed."""

import pytest

from csam_tf.experiments import seed_statistics


def test_mean_spread():
  assert seed_statistics.mean_spread([0.9]) == "90.0"
  # mean 91.0, sample sd of (90, 91, 92) = 1.0
  assert seed_statistics.mean_spread([0.90, 0.91, 0.92]) == "91.0 ± 1.0"
  assert seed_statistics.mean_spread([60.0, 120.0], 1 / 60.0) == "1.5 ± 0.7"
  assert seed_statistics.mean_spread([]) == "-"
  assert seed_statistics.mean_spread(["", 0.5]) == "50.0"


@pytest.mark.parametrize("wins,losses,p", [
    (2, 12, 0.012939453125), (6, 0, 0.03125), (3, 5, 0.7265625),
    (0, 0, 1.0), (4, 4, 1.0)])
def test_sign_test_is_the_exact_two_sided_binomial(wins, losses, p):
  assert seed_statistics.sign_test(wins, losses) == pytest.approx(p, rel=1e-12)
