"""Settings of the robust objective on the weights (pure Python), shared
by stage 1 and stage 3 and by `csam_tf.robust_trainer`."""

import dataclasses

OBJECTIVES = ("ce", "robust")


@dataclasses.dataclass(frozen=True)
class RobustConfig:
  """CE over the views + weight * mean KL(pbar || p_i) + entropy *
  H(pbar) (trainers/robust.py), the views drawn from the certificate's
  transformation `family` at `level`."""
  weight: float = 5.0          # lambda: with 4 fine-tuning epochs and
                               # robust pre-training, the most validation
                               # PCA within 1 point of tfmot's accuracy at
                               # 70% and 90% (BENCHMARKS.md; 10 lost 2
                               # points of accuracy at 70%)
  entropy: float = 0.5         # eta: entropy of the mean prediction
  views: int = 1               # m transformed views of every image (one
                               # beside the clean image: a second costs a
                               # pass a step for PCA within noise)
  clean_view: bool = True      # the clean image is one view more
  worst_of: int = 1            # each view the worst (highest CE) of k draws
  ramp: float = 0.0            # weight rises linearly over this fraction
                               # of the stage's steps (0: from the start)
  ratio_weight: float = 0.0    # + the bounded ratio term (0: off)
  ratio_clip: float = 10.0     # r capped here, correctly classified only
  ratio_start: float = 0.5     # fraction of the steps before it switches on
  ratio_eta: float = 1.0
  family: str = "composite"
  level: str = "L2"

  def __post_init__(self):
    if self.views < 1:
      raise ValueError(f"views must be at least 1 (got {self.views})")
    if self.views + int(self.clean_view) < 2 and self.weight > 0:
      raise ValueError("the KL term needs two views at least: raise views "
                       "or keep the clean view")
    if self.ratio_weight > 0 and not self.clean_view:
      raise ValueError("the ratio term compares p(x) with p(T(x)): keep "
                       "the clean view")
    if self.worst_of < 1:
      raise ValueError(f"worst_of must be at least 1 (got {self.worst_of})")
    for name in ("ramp", "ratio_start"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ValueError(f"{name} is a fraction of the steps, in [0, 1] "
                         f"(got {getattr(self, name)})")
    for name in ("weight", "entropy", "ratio_weight", "ratio_clip"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be >= 0 (got {getattr(self, name)})")
