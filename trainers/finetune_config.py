"""Settings of stage 3, fine-tuning under fixed binary masks (pure Python)."""

import dataclasses

from trainers.mask_search_config import allocation
from trainers.robust_config import RobustConfig


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
  epochs: int = 4                   # the robust objective's validated length
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
  binarize: str = "auto"            # allocation (the search's): layerwise,
                                    # global or auto (`allocation`)
  recalibration_batches: int = 50   # BatchNorm re-estimated under the
                                    # fixed masks before fine-tuning
  # > 0: cross-entropy + ratio_weight * L_ratio on the weights
  # (trainers/ratio_finetune.py), T drawn from family/level
  ratio_weight: float = 0.0
  eta: float = 1.0                  # the search's ratio margin
  ratio_clip: float = 10.0
  family: str = "composite"
  level: str = "L2"
  objective: str = "robust"         # or "ce" (trainers/robust.py)
  robust: RobustConfig = RobustConfig()

  def __post_init__(self):
    object.__setattr__(self, "binarize",
                       allocation(self.binarize, self.granularity))
