"""The protocol's ranges table and custom ranges."""

import pytest

from csam_tf.transforms import ranges as tr


def test_protocol_table():
  assert tr.family_ranges("brightness", "L1") == {"brightness": (-0.1, 0.1)}
  assert tr.family_ranges("contrast", "L2") == {"contrast": (0.6, 1.4)}
  assert tr.family_ranges("rotation", "L2") == {"angle": (-20.0, 20.0)}
  assert tr.family_ranges("translation", "L1") == {"dx": (-2.0, 2.0),
                                                   "dy": (-2.0, 2.0)}
  assert tr.family_ranges("blur", "L2") == {"sigma": (0.0, 1.0)}
  composite = tr.family_ranges("composite", "L1")
  assert set(composite) == {"angle", "dx", "dy", "sigma", "contrast",
                            "brightness"}
  assert composite["angle"] == (-10.0, 10.0)


def test_custom_ranges_override_the_level():
  overrides = tr.parse_overrides("angle=-5:5, dx=0:1")
  assert overrides == {"angle": (-5.0, 5.0), "dx": (0.0, 1.0)}
  ranges = tr.family_ranges("composite", "L2", overrides)
  assert ranges["angle"] == (-5.0, 5.0) and ranges["dy"] == (-3.0, 3.0)


@pytest.mark.parametrize("text,message", [
    ("angle=5", "write name=low:high"),
    ("zoom=0:1", "unknown parameter"),
    ("angle=a:b", "write name=low:high"),
])
def test_bad_custom_ranges(text, message):
  with pytest.raises(ValueError, match=message):
    tr.parse_overrides(text)


@pytest.mark.parametrize("family,level,overrides,message", [
    ("zoom", "L1", None, "unknown transformation family"),
    ("blur", "L3", None, "unknown level"),
    ("rotation", "L1", {"sigma": (0, 1)}, "not drawn by family"),
    ("rotation", "L1", {"angle": (5, -5)}, "low <= high"),
    ("blur", "L1", {"sigma": (-1, 1)}, "must not be negative"),
])
def test_bad_family_ranges(family, level, overrides, message):
  with pytest.raises(ValueError, match=message):
    tr.family_ranges(family, level, overrides)
