"""Settings of certification (pure Python, shared by flags and the stage)."""

import dataclasses
from typing import Sequence, Tuple

# The bounds certification can use (certify.bounds says what each bounds).
BOUNDS = ("ccert", "binomial", "clopper_pearson")


@dataclasses.dataclass(frozen=True)
class CertifyConfig:
  models: Sequence[str] = ("dense", "pruned")  # what the stage certifies
  families: Sequence[str] = ("composite",)
  levels: Sequence[str] = ("L2",)
  num_images: int = 100
  nsamples: int = 100
  nbounds: int = 10
  delta: float = 0.9
  eps: float = 1e-3
  bound: str = "ccert"            # or "binomial", "clopper_pearson"
  images_per_group: int = 8       # images whose samples run together
  batch_size: int = 1000          # forward-pass batch
  seed: int = 0
  full_bounds: bool = False       # True: no early exit, every block
  restart: bool = False           # True: move existing CSVs aside first
  split: str = "test"             # or "validation" (choosing settings)


CERTIFICATE_SPELLING = ("FAMILIES/LEVEL[/BOUND[/NBOUNDS]], e.g. composite/L1"
                        ", brightness,rotation/L2 or composite/L2/binomial/24")


def parse_certificate(text: str, bound: str, nbounds: int
                      ) -> Tuple[Tuple[str, ...], str, str, int]:
  """(families, level, bound, nbounds) of one --certificate value; BOUND
  and NBOUNDS default to `bound` and `nbounds`. Raises ValueError with what
  is wrong (the caller checks the family and level names, which it knows)."""
  parts = text.split("/")
  if not 2 <= len(parts) <= 4 or not all(parts):
    raise ValueError(f"{text!r} is not {CERTIFICATE_SPELLING}")
  families = tuple(f.strip() for f in parts[0].split(","))
  if not all(families):
    raise ValueError(f"{text!r} names an empty family")
  level = parts[1]
  if len(parts) > 2:
    bound = parts[2]
    if bound not in BOUNDS:
      raise ValueError(f"{text!r}: bound {bound!r} is not one of "
                       f"{', '.join(BOUNDS)}")
  if len(parts) > 3:
    if not parts[3].isdigit() or int(parts[3]) < 1:
      raise ValueError(f"{text!r}: NBOUNDS {parts[3]!r} is not a whole "
                       f"number of at least 1")
    nbounds = int(parts[3])
  return families, level, bound, nbounds
