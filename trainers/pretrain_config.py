"""Settings of stage 1 (pure Python, shared by flags and the trainer)."""

import dataclasses
from typing import Dict, Tuple

from trainers.robust_config import RobustConfig

OPTIMIZERS = ("sgd", "adam")


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
  epochs: int = 8
  optimizer: str = "sgd"
  learning_rate: float = 0.1
  momentum: float = 0.9
  weight_decay: float = 5e-4
  warmup_epochs: float = 0.0
  augment_family: str = "composite"   # or "none"
  augment_level: str = "L2"
  augment_ranges: Dict[str, Tuple[float, float]] = dataclasses.field(
      default_factory=dict)
  augment_prob: float = 0.5
  sam_rho: float = 0.0                # > 0: SAM updates (sam_then_prune)
  objective: str = "robust"          # or "ce" (trainers/robust.py;
                                      # the views replace the augmentation)
  robust: RobustConfig = RobustConfig()
