"""Settings of stage 3, fine-tuning under fixed binary masks (pure Python)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
  epochs: int = 2
  steps_per_epoch: int = 0          # cut each epoch after N steps (0 = all)
  learning_rate: float = 0.01
  optimizer: str = "sgd"
  momentum: float = 0.9
  weight_decay: float = 5e-4
  sparsity: float = 0.5   # recorded in the tfmot schedule; masks decide
  granularity: str = "unstructured"  # or "channel": gates fixed in BN
  pruning: str = "fixed_masks"      # or "polynomial_decay" (tfmot magnitude)
  polynomial_decay_end: float = 0.5  # fraction of steps to reach sparsity
  polynomial_decay_frequency: int = 50  # steps between mask updates
  sam_rho: float = 0.0              # > 0: SAM updates (prune_then_sam)
  allocation: str = "layerwise"     # or "global" (polynomial_decay)
  recalibration_batches: int = 50   # BatchNorm re-estimated under the
                                    # fixed masks before fine-tuning
