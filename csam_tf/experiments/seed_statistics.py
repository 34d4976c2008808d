"""Cells over seeds: mean ± sample sd, ranges and whether two overlap, a
signed difference in points, and the exact sign test on discordant
images."""

import math
import statistics
from typing import Sequence


def mean_spread(values: Sequence[float], scale: float = 100.0,
                digits: int = 1) -> str:
  """'92.3' for one value, '92.3 ± 0.4' (sample sd) for several."""
  values = [float(v) * scale for v in values if v != ""]
  if not values:
    return "-"
  mean = statistics.fmean(values)
  if len(values) == 1:
    return f"{mean:.{digits}f}"
  return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def sign_test(wins: int, losses: int) -> float:
  """Exact two-sided sign test: the probability of a split at least this
  uneven if each discordant image were a fair coin."""
  n = wins + losses
  if n == 0:
    return 1.0
  tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1))
  return min(1.0, 2.0 * tail / 2 ** n)


def seed_range(values):
  return (f"{min(values):.1f}" if len(values) == 1 else
          f"{min(values):.1f} - {max(values):.1f}")


def ranges_overlap(ours, theirs) -> bool:
  """Whether the seed ranges [min, max] of two rows share a value."""
  return max(ours) >= min(theirs) and max(theirs) >= min(ours)


def signed_points(difference):
  """'+1.5', '-0.5', and '0.0' rather than '-0.0'."""
  text = f"{difference:+.1f}"
  return "0.0" if text in ("+0.0", "-0.0") else text
