"""Settings of certification (pure Python, shared by flags and the stage)."""

import dataclasses
from typing import Sequence


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
