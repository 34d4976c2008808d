"""Parameter ranges of the protocol's semantic transformation families.

Pure Python (no TensorFlow) so the CLI can validate flags before the slow
TensorFlow import; `csam_tf.transforms` applies what is drawn from here.
"""

from typing import Dict, Mapping, Optional, Tuple

# Parameter names, in the order the composite applies them.
ANGLE = "angle"            # degrees, counter-clockwise about the image centre
DX, DY = "dx", "dy"        # pixels, right and down
SIGMA = "sigma"            # Gaussian blur standard deviation, kernel 5
CONTRAST = "contrast"      # factor about the per-image mean
BRIGHTNESS = "brightness"  # additive delta

BLUR_KERNEL_SIZE = 5
IDENTITY = {ANGLE: 0.0, DX: 0.0, DY: 0.0, SIGMA: 0.0, CONTRAST: 1.0,
            BRIGHTNESS: 0.0}

# Ranges per family and level, from the protocol's table.
_PROTOCOL_RANGES = {
    "L1": {ANGLE: (-10.0, 10.0), DX: (-2.0, 2.0), DY: (-2.0, 2.0),
           SIGMA: (0.0, 0.5), CONTRAST: (0.8, 1.2), BRIGHTNESS: (-0.1, 0.1)},
    "L2": {ANGLE: (-20.0, 20.0), DX: (-3.0, 3.0), DY: (-3.0, 3.0),
           SIGMA: (0.0, 1.0), CONTRAST: (0.6, 1.4), BRIGHTNESS: (-0.2, 0.2)},
}
FAMILY_PARAMS = {
    "brightness": (BRIGHTNESS,),
    "contrast": (CONTRAST,),
    "rotation": (ANGLE,),
    "translation": (DX, DY),
    "blur": (SIGMA,),
    "composite": (ANGLE, DX, DY, SIGMA, CONTRAST, BRIGHTNESS),
}
FAMILIES = tuple(FAMILY_PARAMS)
LEVELS = tuple(_PROTOCOL_RANGES)

Ranges = Dict[str, Tuple[float, float]]


def family_ranges(family: str, level: str = "L2",
                  overrides: Optional[Mapping[str, Tuple[float, float]]] = None
                  ) -> Ranges:
  """The (low, high) range of every parameter the family draws.

  `overrides` replaces protocol ranges with custom ones, e.g.
  {"angle": (-5, 5)}; it may only name parameters of the family.
  """
  if family not in FAMILY_PARAMS:
    raise ValueError(f"unknown transformation family {family!r}; "
                     f"choose one of {', '.join(FAMILIES)}")
  if level not in _PROTOCOL_RANGES:
    raise ValueError(f"unknown level {level!r}; choose one of "
                     f"{', '.join(LEVELS)}")
  ranges = {p: _PROTOCOL_RANGES[level][p] for p in FAMILY_PARAMS[family]}
  for name, (low, high) in (overrides or {}).items():
    if name not in ranges:
      raise ValueError(f"parameter {name!r} is not drawn by family {family!r}"
                       f" (it draws {', '.join(ranges)})")
    if not low <= high:
      raise ValueError(f"range of {name!r} must have low <= high, "
                       f"got ({low}, {high})")
    if name in (SIGMA, CONTRAST) and low < 0:
      raise ValueError(f"range of {name!r} must not be negative, "
                       f"got ({low}, {high})")
    ranges[name] = (float(low), float(high))
  return ranges


def parse_overrides(text: str) -> Dict[str, Tuple[float, float]]:
  """Parses custom ranges 'angle=-5:5,brightness=-0.3:0.3' into a dict."""
  overrides = {}
  for item in filter(None, (part.strip() for part in text.split(","))):
    name, sep, bounds = item.partition("=")
    low, sep2, high = bounds.partition(":")
    try:
      if not (sep and sep2):
        raise ValueError
      overrides[name.strip()] = (float(low), float(high))
    except ValueError:
      raise ValueError(f"cannot read range {item!r}: write name=low:high, "
                       f"e.g. angle=-5:5") from None
    if name.strip() not in IDENTITY:
      raise ValueError(f"unknown parameter {name.strip()!r} in {item!r}; "
                       f"parameters are {', '.join(IDENTITY)}")
  return overrides
