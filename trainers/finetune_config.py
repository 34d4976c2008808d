"""Settings of stage 3, fine-tuning under fixed binary masks (pure Python)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
  epochs: int = 2
  learning_rate: float = 0.01
  optimizer: str = "sgd"
  momentum: float = 0.9
  weight_decay: float = 5e-4
  sparsity: float = 0.5   # recorded in the tfmot schedule; masks decide
  granularity: str = "unstructured"  # or "channel": gates fixed in BN
