"""Settings of stage 2, the robust mask search (pure Python)."""

import dataclasses

ALLOCATIONS = ("auto", "layerwise", "global")


def allocation(binarize: str, granularity: str) -> str:
  """The top-k allocation `binarize` names: "auto" is global for single
  weights (the allocation the suites validated: BENCHMARKS.md) and
  layer-wise for channels (a global top-k over channel gates can empty a
  layer)."""
  if binarize not in ALLOCATIONS:
    raise ValueError(f"unknown binarize {binarize!r}; choose one of "
                     f"{', '.join(ALLOCATIONS)}")
  if binarize != "auto":
    return binarize
  return "global" if granularity == "unstructured" else "layerwise"


@dataclasses.dataclass(frozen=True)
class MaskSearchConfig:
  method: str = "csam"              # or a baseline: score_ce, random, magnitude
  epochs: int = 1
  steps_per_epoch: int = 0          # 0 = full epochs
  learning_rate: float = 0.01       # Adam on the soft masks (the
                                    # global search's validated rate)
  granularity: str = "unstructured"  # or "channel"
  mask_init: str = "percentile"     # or "random", "ones"
  tau: float = 30.0                 # percentile of the init
  mu: float = 0.5                   # mask noise xi ~ U(-mu, mu)
  eta: float = 1.0                  # ratio threshold
  lambda_stab: float = 5.0
  lambda_ratio: float = 1.0
  lambda_consist: float = 1.0
  lambda_l1: float = 0.1
  lambda_ce: float = 1.0
  sparsity: float = 0.5             # target of the binarisation
  binarize: str = "auto"            # "layerwise", "global"; auto:
                                    # `allocation` (resolved below)
  binarize_score: str = "mask_x_magnitude"  # or "mask"
  ratio_masks: str = "pair"         # or "same"
  consist: str = "kl"               # or "mse"
  family: str = "composite"         # transformation T of the ratio term
  level: str = "L2"
  xla: bool = False                 # compile the step's objective with XLA
  search_bn: str = "batch"          # or "frozen": moving statistics (v1),
                                    # "batch_affine": gamma, beta learned
  recalibration_batches: int = 50   # BatchNorm re-estimation under a mask
  importance_batches: int = 32      # training batches of the taylor scores
  sparsity_schedule: str = "constant"  # or "cubic": the binary branch's
  schedule_begin: float = 0.0       # target rises from 0 to `sparsity`
  schedule_end: float = 0.5         # between these fractions of the search
  ratio_margin_floor: float = 0.0   # r = shift / max(d, floor)
  ratio_clip: float = 10.0          # r = min(r, clip); 0 = off (the
                                    # paper's form; 10: validated)
  log_every: int = 1                # TensorBoard scalars every N steps

  def __post_init__(self):
    object.__setattr__(self, "binarize",
                       allocation(self.binarize, self.granularity))
