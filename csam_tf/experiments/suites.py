"""What each benchmark suite runs: methods as flags of `csam_tf.train`,
one workdir per (method, sparsity, seed). Pure Python: the plan can be
printed and checked without TensorFlow.

Every pruning run starts from the dense model of its seed (`dense/seed<s>`,
or `sam_pretrain/seed<s>` for sam_then_prune), copied into its workdir, and
gets the flagfile's fine-tuning budget (--finetune_epochs) unless its
row's flags set another (the robust-objective rows of the v3 suite: see
`finetune_epochs_overrides`).
"""

import dataclasses
import math
from typing import Dict, List, Sequence, Tuple

from csam_tf.core import workdir as workdir_lib

SUITES = ("main", "main_v2", "ablation", "structured", "search", "vit",
          "objective")
SEEDS = (0, 1, 2)
MAIN_SPARSITIES = (0.5, 0.7, 0.9)        # the v2 main suite
HEADLINE_METHODS = ("csam", "magnitude")   # 3 seeds, every sparsity
OTHER_METHODS = ("random", "score_ce", "sam_then_prune", "prune_then_sam")
OTHER_SPARSITIES = (0.5, 0.9)              # 1 seed
ABLATION_SPARSITY = 0.9
# Labelled rows of the main suite beside the defaults (name -> (method,
# flags, seeds)): the stage-2 default before issue 14 (one seed), and
# PROTOCOL's global allocation (3 seeds; C-SAM with the best global setting
# of the validation sweep, magnitude with tfmot per-layer targets from one
# global |w| threshold).
MAIN_VARIANTS: Dict[str, Tuple[str, Dict[str, object], Tuple[int, ...]]] = {
    "csam-v1_frozen_bn": ("csam", {"search_bn": "frozen"}, (0,)),
    "csam-global": ("csam", {"binarize": "global", "mask_lr": 0.01,
                             "ratio_clip": 10.0}, (0, 1, 2)),
    "magnitude-global": ("magnitude", {"binarize": "global"}, (0, 1, 2)),
}
# C-SAM against tfmot magnitude pruning with the same allocation, seed by
# seed (the same dense model): (C-SAM row, magnitude row, allocation).
HEADLINE_PAIRS = (("csam", "magnitude", "layer-wise"),
                  ("csam-global", "magnitude-global", "global"))
STRUCTURED_METHODS = ("csam_channel", "l1_filter", "group_norm")
STRUCTURED_SPARSITY = 0.5                  # PROTOCOL.md: 50% of channels
# The ViT suite (issue 18, configs/bench_vit.cfg): weights at 70%, heads
# and MLP channels at 50% (weight norm and first-order Taylor baselines);
# every run exports (sizes and latency beside PCA).
VIT_UNSTRUCTURED = ("csam", "magnitude")
VIT_UNSTRUCTURED_SPARSITY = 0.7
VIT_STRUCTURED = ("csam_channel", "group_norm", "taylor")
SAM_RHO = 0.05
# The v3 main suite (PROTOCOL v3, issue 32): tfmot as users run it against
# the robust objective on the weights, from the CE-trained dense model (a
# user who brings their model) and from a robust-pre-trained one (the full
# pipeline), with global magnitude and C-SAM masks under the same robust
# fine-tuning; 3 seeds, 70-98%.
V3_SPARSITIES = (0.7, 0.9, 0.95, 0.98)
HEADLINE_SPARSITIES = (0.7, 0.9)         # README's table
# The robust objective's settings, chosen on validation by the objective
# suite (BENCHMARKS.md, "Choosing the fine-tuning objective"): the row with
# the most PCA whose accuracy stays within 1 point of tfmot as users run
# it, lambda 10 with 4 fine-tuning epochs (the longer fine-tuning wins back
# the accuracy lambda 10 costs at 2). Robust pre-training uses the same
# lambda, so the weights are trained for one objective throughout.
ROBUST_SETTINGS: Dict[str, object] = {"robust_lambda": 10.0}
ROBUST_FINETUNE_EPOCHS = 4
ROBUST_FINETUNE = {"finetune_objective": "robust", **ROBUST_SETTINGS,
                   "finetune_epochs": ROBUST_FINETUNE_EPOCHS}
CSAM_GLOBAL = {"binarize": "global", "mask_lr": 0.01, "ratio_clip": 10.0}
# The shipped pipeline (the command's defaults), chosen later by the
# objective sweep on validation (BENCHMARKS.md, "Choosing the fine-tuning
# objective"): robust pre-training and fine-tuning at lambda 5 with one
# transformed view beside the clean image (lambda 10 cost 2 points of
# accuracy at 70%; a second view costs a forward and backward pass a step
# for PCA within one seed's noise), 4 fine-tuning epochs.
SHIPPED_ROBUST: Dict[str, object] = {"robust_lambda": 5.0, "robust_views": 1}
SHIPPED_FINETUNE = {"finetune_objective": "robust", **SHIPPED_ROBUST,
                    "finetune_epochs": ROBUST_FINETUNE_EPOCHS}
# Dense models of the v3 table (label -> (method, flags beside the
# method's)), trained once per seed.
V3_DENSE: Dict[str, Tuple[str, Dict[str, object]]] = {
    "dense": ("dense", {}), "dense_robust": ("dense_robust", {}),
    "dense_robust-shipped": ("dense_robust", SHIPPED_ROBUST)}
# Row label -> (method, flags, dense model's label): the rows of a v3
# table, in the order they are shown. The -full and -global_robust rows
# came first, at lambda 10 with two views (the sweep's 90% choice), and
# keep their records as what they are.
V3_ROWS: Dict[str, Tuple[str, Dict[str, object], str]] = {
    "magnitude": ("magnitude", {}, "dense"),     # tfmot as users run it
    "csam-shipped": ("csam", {**CSAM_GLOBAL, **SHIPPED_FINETUNE},
                     "dense_robust-shipped"),
    "magnitude-shipped": ("magnitude", {"binarize": "global",
                                        **SHIPPED_FINETUNE},
                          "dense_robust-shipped"),
    "magnitude-global_robust": ("magnitude", {"binarize": "global",
                                              **ROBUST_FINETUNE}, "dense"),
    "csam-global_robust": ("csam", {**CSAM_GLOBAL, **ROBUST_FINETUNE},
                           "dense"),
    "magnitude-full": ("magnitude", {"binarize": "global",
                                     **ROBUST_FINETUNE}, "dense_robust"),
    "csam-full": ("csam", {**CSAM_GLOBAL, **ROBUST_FINETUNE},
                  "dense_robust"),
}
# The shipped candidates against tfmot as users run it (same seed).
V3_HEADLINE_PAIRS = (("csam-shipped", "magnitude"),
                     ("magnitude-shipped", "magnitude"),
                     ("csam-full", "magnitude"),
                     ("magnitude-full", "magnitude"),
                     ("csam-global_robust", "magnitude"))
# The same masks' methods under the same objective and dense model (the
# CE one, the robust one): the mask comparison, C-SAM row first.
V3_MASK_PAIRS = (("csam-shipped", "magnitude-shipped"),
                 ("csam-global_robust", "magnitude-global_robust"),
                 ("csam-full", "magnitude-full"))
# Runs that train a dense model (no sparsity; their certificates are the
# dense model's): one workdir per seed.
DENSE_METHODS = ("dense", "sam_pretrain", "dense_robust")
# The dense model a pruning run starts from (copied from its dense run).
PRETRAIN_FILES = (workdir_lib.PRETRAIN_WEIGHTS, workdir_lib.PRETRAIN_MODEL)
# What a dense run's committed record keeps of them: the weights, which
# every later stage loads (model.keras holds the same weights again).
PRETRAIN_RECORD_FILES = (workdir_lib.PRETRAIN_WEIGHTS,)

_MASK_STAGES = ("mask", "finetune", "certify")
_DECAY_STAGES = ("finetune", "certify")
# Method -> (stages, flags of csam_tf.train, where its dense model comes from).
METHODS: Dict[str, Tuple[Tuple[str, ...], Dict[str, object], str]] = {
    "dense": (("pretrain", "certify"), {"cert_models": "dense"}, ""),
    "csam": (_MASK_STAGES, {"mask_method": "csam"}, "dense"),
    "score_ce": (_MASK_STAGES, {"mask_method": "score_ce"}, "dense"),
    "random": (_MASK_STAGES, {"mask_method": "random"}, "dense"),
    "magnitude": (_DECAY_STAGES, {"finetune_pruning": "polynomial_decay"},
                  "dense"),
    "sam_then_prune": (_DECAY_STAGES,
                       {"finetune_pruning": "polynomial_decay"},
                       "sam_pretrain"),
    "prune_then_sam": (_MASK_STAGES, {"mask_method": "magnitude",
                                      "finetune_sam_rho": SAM_RHO}, "dense"),
    "sam_pretrain": (("pretrain",), {"pretrain_sam_rho": SAM_RHO}, ""),
    "dense_robust": (("pretrain", "certify"),
                     {"cert_models": "dense", "pretrain_objective": "robust",
                      **ROBUST_SETTINGS}, ""),
    # Structured: whole channel groups removed, then exported (latency).
    "csam_channel": (_MASK_STAGES[:2] + ("export", "certify"),
                     {"mask_method": "csam", "granularity": "channel"},
                     "dense"),
    "l1_filter": (_MASK_STAGES[:2] + ("export", "certify"),
                  {"mask_method": "l1_filter", "granularity": "channel"},
                  "dense"),
    "group_norm": (_MASK_STAGES[:2] + ("export", "certify"),
                   {"mask_method": "group_norm", "granularity": "channel"},
                   "dense"),
    "taylor": (_MASK_STAGES[:2] + ("export", "certify"),
               {"mask_method": "taylor", "granularity": "channel"}, "dense"),
}
# The paper's ablations of C-SAM (variant -> flags changed from the default).
ABLATIONS: Dict[str, Dict[str, object]] = {
    "default": {},
    # the default before issue 14: BatchNorm's moving statistics frozen
    "v1_frozen_bn": {"search_bn": "frozen"},
    # gamma and beta learned with the masks (kept for fine-tuning)
    "learned_bn_affine": {"search_bn": "batch_affine"},
    "no_stab": {"lambda_stab": 0.0},
    "no_ratio": {"lambda_ratio": 0.0},
    "no_consist": {"lambda_consist": 0.0},
    "consist_mse": {"consist": "mse"},
    "tau0": {"tau": 0.0},
    "tau40": {"tau": 40.0},
    "init_random": {"mask_init": "random"},
    "mu0.3": {"mu": 0.3},
    "mu0.8": {"mu": 0.8},
    "eta0.95": {"eta": 0.95},
    "eta1.05": {"eta": 1.05},
    "no_ce": {"lambda_ce": 0.0},
    # Beyond the paper's table: why C-SAM's binary masks at 90% start at
    # chance (soft masks near 1 vs 10% kept; BENCHMARKS.md).
    "tau90": {"tau": 90.0},
    "consist10": {"lambda_consist": 10.0},
    "steps600": {"mask_steps_per_epoch": 600},
    "lr3e-3": {"mask_lr": 0.003},
    "lr1e-2": {"mask_lr": 0.01},
}
# The validation sweep that chooses the search's defaults (issue 14,
# PROTOCOL.md "Choosing settings"): every run certifies the first 200
# VALIDATION images (composite L2) and is judged on validation numbers
# only; run it in its own --workdir (its dense run certifies validation
# images, the main suite's test images).
SEARCH_SPARSITIES = (0.7, 0.9)
SEARCH_VARIANTS: Dict[str, Dict[str, object]] = {
    "v1_frozen_bn": {"search_bn": "frozen"},
    "batch_bn": {},
    "lr1e-2": {"mask_lr": 0.01},
    "lr1e-2_cubic": {"mask_lr": 0.01, "search_sparsity_schedule": "cubic"},
    "scaled_lr1e-2": {"mask_init": "scaled_magnitude", "mask_lr": 0.01},
    "scaled_key_mask_lr1e-2": {"mask_init": "scaled_magnitude",
                               "binarize_score": "mask", "mask_lr": 0.01},
    "global": {"binarize": "global"},
    "global_lr1e-2": {"binarize": "global", "mask_lr": 0.01},
    "ratio_floor_lr1e-2": {"mask_lr": 0.01, "ratio_margin_floor": 0.05},
    "ratio_clip_lr1e-2": {"mask_lr": 0.01, "ratio_clip": 10.0},
    "ratio_clip_global_lr1e-2": {"mask_lr": 0.01, "ratio_clip": 10.0,
                                 "binarize": "global"},
    "steps600_lr1e-2": {"mask_lr": 0.01, "mask_steps_per_epoch": 600},
    # the search budget for the global rows' setting: 4x the steps
    "steps600_ratio_clip_global_lr1e-2": {
        "mask_lr": 0.01, "ratio_clip": 10.0, "binarize": "global",
        "mask_steps_per_epoch": 600},
    # fine-tuning with the ratio term on the weights (what BENCHMARKS'
    # "what would be needed" points to), against the magnitude row below
    "ratio_finetune_global": {"mask_lr": 0.01, "ratio_clip": 10.0,
                              "binarize": "global",
                              "finetune_ratio_weight": 1.0},
    "ratio_finetune0.1_global": {"mask_lr": 0.01, "ratio_clip": 10.0,
                                 "binarize": "global",
                                 "finetune_ratio_weight": 0.1},
}
SEARCH_BASELINES: Dict[str, Dict[str, object]] = {
    "magnitude": {}, "magnitude_global": {"binarize": "global"},
    "magnitude_global_ratio_finetune": {"binarize": "global",
                                        "finetune_ratio_weight": 1.0},
    "magnitude_global_ratio_finetune0.1": {"binarize": "global",
                                           "finetune_ratio_weight": 0.1}}
VALIDATION_FLAGS = {"cert_split": "validation"}

# The validation sweep of the weights' objective (issue 32, PROTOCOL v3
# "Choosing settings"): seed 0, global allocation, on tfmot's gradual
# magnitude pruning from the CE-trained dense model (so the sweep measures
# the objective, not a mask); each variant changes the fine-tuning
# objective only (and, in OBJECTIVE_SOURCES, the dense model it starts
# from). Both the CC-Cert and the binomial PCA on the first 200
# validation images. Its records are docs/bench_records/objective_v3,
# whose dense/seed0 is the v2 dense model (search_v2's) certified again
# with full bounds and the binomial bound. 90% first; then 70%, where
# lambda 10 (the 90% choice) lands 2 points below tfmot's accuracy, so
# weaker settings are measured there and lambda 5 at 90% too (can one
# setting keep both sparsities within the 1-point rule?). At 70% lambda 5
# from the CE model stays within a point (91.5% validation accuracy
# against tfmot's 91.9%), so lambda 2, which the rule could only pick
# were lambda 5 over it, is not run; the full pipeline at lambda 5 (its
# own robust-pre-trained dense model) is: robust pre-training added about
# 6 points of PCA at lambda 10. With two views it costs 2.9x tfmot's CPU
# time at 70% (dense models counted), over issue 32's 2.5x, so the full
# pipeline with one transformed view in both stages (1.32x instead of
# 1.58x a fine-tuning step at 90%, PCA within one seed's noise) runs
# first, at both sparsities (lambda 5 with 4 epochs kept 90% within the
# point too: 90.4% validation accuracy, PCA 62.0% against lambda 10's
# 64.5% at 88.8%).
_ROBUST = {"finetune_objective": "robust"}
# The one-view full pipeline's fine-tuning, at both sparsities.
_FULL_L5_M1 = {**_ROBUST, "robust_lambda": 5.0, "robust_views": 1,
               "finetune_epochs": 4}
# The cross-entropy row each sparsity's "CPU time vs CE" is taken from.
OBJECTIVE_CE_VARIANT = "magnitude_global"
OBJECTIVE_VARIANTS_90: Dict[str, Dict[str, object]] = {
    "magnitude_global": {},                    # cross-entropy (v2's row)
    "robust_l2": {**_ROBUST, "robust_lambda": 2.0},
    "robust_l5": {**_ROBUST, "robust_lambda": 5.0},
    "robust_l10": {**_ROBUST, "robust_lambda": 10.0},
    "robust_l20": {**_ROBUST, "robust_lambda": 20.0},
    "robust_l5_eta0": {**_ROBUST, "robust_lambda": 5.0, "robust_entropy": 0.0},
    "robust_l5_m1": {**_ROBUST, "robust_lambda": 5.0, "robust_views": 1},
    "robust_l5_worst4": {**_ROBUST, "robust_lambda": 5.0,
                         "robust_worst_of": 4},
    "robust_l10_ramp": {**_ROBUST, "robust_lambda": 10.0, "robust_ramp": 0.5},
    "robust_l5_ratio": {**_ROBUST, "robust_lambda": 5.0,
                        "robust_ratio_weight": 0.5},
    "robust_l10_ft4": {**_ROBUST, "robust_lambda": 10.0,
                       "finetune_epochs": 4},
    "robust_l5_ft4": {**_ROBUST, "robust_lambda": 5.0, "finetune_epochs": 4},
    "full_l5_m1_ft4": _FULL_L5_M1,
}
# The two-view full pipeline at lambda 5 was planned after these and
# dropped: the one-view one kept both sparsities within the point, and two
# views cost 2.9x tfmot's CPU time at 70%, which the rule excludes
# whatever their PCA.
OBJECTIVE_VARIANTS_70: Dict[str, Dict[str, object]] = {
    "robust_l5_ft4": {**_ROBUST, "robust_lambda": 5.0, "finetune_epochs": 4},
    "full_l5_m1_ft4": _FULL_L5_M1,
}
# Dense models beside the CE one (variant of dense_robust -> its flags) and
# the variants that start from them instead (variant -> dense run).
OBJECTIVE_DENSE_VARIANTS: Dict[str, Dict[str, object]] = {
    "l5_m1": {"robust_lambda": 5.0, "robust_views": 1}}
OBJECTIVE_SOURCES: Dict[str, str] = {
    "full_l5_m1_ft4": "dense_robust-l5_m1/seed0"}
# Sparsity -> its variants, in the order the suite runs them.
OBJECTIVE_SWEEPS: Dict[float, Dict[str, Dict[str, object]]] = {
    0.9: OBJECTIVE_VARIANTS_90, 0.7: OBJECTIVE_VARIANTS_70}

# Certified beyond composite L2 (the protocol's extra families), as
# (model, families, level): dense, and csam / magnitude at 90%.
EXTRA_CERTIFICATES = ((("composite",), "L1"), (("brightness", "rotation"),
                                               "L2"))
EXTRA_CERTIFIED_METHODS = ("csam", "magnitude")
EXTRA_CERTIFIED_SPARSITY = 0.9
# The rigorous companion of the headline PCA (README, "What the certificate
# is"): the binomial bound on P(Y >= a), composite L2, for the headline
# rows at every sparsity, with enough samples to reach eps at delta.
BINOMIAL_CERTIFIED_METHODS = ("dense", "csam", "magnitude")
BINOMIAL_CERTIFICATE = (("composite",), "L2", "binomial")


def binomial_samples(eps: float, delta: float) -> int:
  """The fewest samples whose zero-violation Clopper-Pearson bound at
  confidence delta is below eps: 1 - (1 - delta)^(1/n) < eps (2,302 for
  eps 1e-3, delta 0.9)."""
  return math.floor(math.log(1.0 - delta) / math.log(1.0 - eps)) + 1


@dataclasses.dataclass(frozen=True)
class ExperimentRun:
  """One invocation plan: a workdir, its stages and the flags that make the
  method; `pretrain_from` names the run whose dense model it starts from."""
  method: str
  variant: str
  sparsity: float
  seed: int
  stages: Tuple[str, ...]
  flags: Dict[str, object]
  pretrain_from: str
  # (model, families, level, bound) certified after the run's stages
  extra_certificates: Tuple[Tuple[str, Tuple[str, ...], str, str], ...]

  @property
  def name(self) -> str:
    """Workdir relative to the suite root, e.g. csam/sp90/seed0."""
    label = self.method if self.variant == "default" else (
        f"{self.method}-{self.variant}")
    if self.method in DENSE_METHODS:
      return f"{label}/seed{self.seed}"
    return f"{label}/sp{round(self.sparsity * 100):d}/seed{self.seed}"

  def cert_split(self, default: str) -> str:
    """The images every certificate of the run is on (a validation run's
    extra certificates too): its own --cert_split, else the suite's."""
    return str(self.flags.get("cert_split", default))

  def train_flags(self) -> List[str]:
    """Command-line flags of csam_tf.train beyond the flagfile's."""
    values = {"seed": self.seed, "stages": ",".join(self.stages),
              **self.flags}
    if self.method not in DENSE_METHODS:
      values["sparsity"] = self.sparsity
    return [f"--{key}={value}" for key, value in values.items()]


def _run(method, sparsity=0.0, seed=0, variant="default", extra=None,
         certificates_beyond=True):
  stages, flags, source = METHODS[method]
  flags = {**flags, **(extra or {})}
  # A row that trains on cross-entropy says so, so that a change of the
  # command's default objective leaves it (and its records) what it is.
  for stage, objective in (("pretrain", "pretrain_objective"),
                           ("finetune", "finetune_objective")):
    if stage in stages:
      flags.setdefault(objective, "ce")
  if method not in DENSE_METHODS:
    flags.setdefault("cert_models", "pruned")
  source_name = f"{source}/seed{seed}" if source else ""
  certificates = ()
  model = "dense" if method == "dense" else "pruned"
  if certificates_beyond and (
      method == "dense" or (method in EXTRA_CERTIFIED_METHODS and
                            variant == "default" and
                            sparsity == EXTRA_CERTIFIED_SPARSITY)):
    certificates = tuple((model, families, level, "ccert")
                         for families, level in EXTRA_CERTIFICATES)
  if (certificates_beyond and method in BINOMIAL_CERTIFIED_METHODS and
      variant in ("default", "global")):
    certificates += ((model, *BINOMIAL_CERTIFICATE),)
  return ExperimentRun(method, variant, sparsity, seed, stages, flags,
                       source_name, certificates)


def suite_runs(suite: str, methods: Sequence[str] = (),
               sparsities: Sequence[float] = (),
               seeds: Sequence[int] = ()) -> List[ExperimentRun]:
  """The runs of `suite` in execution order (each run after the dense model
  it starts from), optionally restricted to some methods (for the ablation
  suite: variants), sparsities and seeds."""
  if suite not in SUITES:
    raise ValueError(f"unknown suite {suite!r}; choose one of "
                     f"{', '.join(SUITES)}")
  runs = {"main": _main_v3_runs, "main_v2": _main_runs,
          "ablation": _ablation_runs,
          "structured": _structured_runs, "search": _search_runs,
          "vit": _vit_runs, "objective": _objective_runs}[suite]()
  wanted = [r for r in runs if _selected(r, suite, methods, sparsities,
                                         seeds)]
  return _with_sources(wanted, runs)


def _main_runs():
  runs = []
  for seed in SEEDS:
    runs.append(_run("dense", seed=seed))
    if seed == 0:
      runs.append(_run("sam_pretrain", seed=seed))
    for sparsity in MAIN_SPARSITIES:
      runs += [_run(m, sparsity, seed) for m in HEADLINE_METHODS]
      if seed == 0 and sparsity in OTHER_SPARSITIES:
        runs += [_run(m, sparsity, seed) for m in OTHER_METHODS]
      for label, (method, flags, seeds) in MAIN_VARIANTS.items():
        if seed in seeds:
          runs.append(_run(method, sparsity, seed, label.split("-", 1)[1],
                           flags))
  return runs


def _with_binomial_only(run):
  """`run` whose one extra certificate is the binomial companion of its
  headline (the v3 and objective suites certify nothing more)."""
  model = "dense" if run.method in DENSE_METHODS else "pruned"
  return dataclasses.replace(
      run, extra_certificates=((model, *BINOMIAL_CERTIFICATE),))


def _v3_run(label, sparsity, seed):
  """A v3 row's run, from its row's dense model."""
  method, flags, source = V3_ROWS[label]
  variant = label.split("-", 1)[1] if "-" in label else "default"
  run = _run(method, sparsity, seed, variant, flags,
             certificates_beyond=False)
  return _with_binomial_only(dataclasses.replace(
      run, pretrain_from=f"{source}/seed{seed}"))


def _main_v3_runs():
  runs = []
  for seed in SEEDS:
    for label, (method, flags) in V3_DENSE.items():
      variant = label.split("-", 1)[1] if "-" in label else "default"
      runs.append(_with_binomial_only(
          _run(method, seed=seed, variant=variant, extra=flags,
               certificates_beyond=False)))
    for sparsity in V3_SPARSITIES:
      runs += [_v3_run(label, sparsity, seed) for label in V3_ROWS]
  return runs


def _ablation_runs():
  return [_run("dense", seed=0)] + [
      _run("csam", ABLATION_SPARSITY, 0, variant, flags)
      for variant, flags in ABLATIONS.items()]


def _structured_runs():
  return [_run("dense", seed=0)] + [
      _run(method, STRUCTURED_SPARSITY, 0) for method in STRUCTURED_METHODS]


def _vit_runs():
  runs = [_run("dense", seed=0, certificates_beyond=False)]
  for method in VIT_UNSTRUCTURED:
    run = _run(method, VIT_UNSTRUCTURED_SPARSITY, 0,
               certificates_beyond=False)
    runs.append(dataclasses.replace(
        run, stages=run.stages[:-1] + ("export", "certify")))
  runs += [_run(m, STRUCTURED_SPARSITY, 0, certificates_beyond=False)
           for m in VIT_STRUCTURED]
  # v3: the same weights-pruning rows fine-tuned as the shipped pipeline
  # fine-tunes, beside v2's cross-entropy rows (from the same dense model)
  for method in VIT_UNSTRUCTURED:
    run = _run(method, VIT_UNSTRUCTURED_SPARSITY, 0, "robust",
               SHIPPED_FINETUNE, certificates_beyond=False)
    runs.append(dataclasses.replace(
        run, stages=run.stages[:-1] + ("export", "certify")))
  return runs


def _search_runs():
  runs = [_run("dense", 0, 0, extra=VALIDATION_FLAGS,
               certificates_beyond=False)]
  for sparsity in SEARCH_SPARSITIES:
    for variant, flags in SEARCH_BASELINES.items():
      runs.append(_run("magnitude", sparsity, 0,
                       "default" if variant == "magnitude" else variant,
                       {**flags, **VALIDATION_FLAGS},
                       certificates_beyond=False))
    for variant, flags in SEARCH_VARIANTS.items():
      runs.append(_run("csam", sparsity, 0, variant,
                       {**flags, **VALIDATION_FLAGS},
                       certificates_beyond=False))
  return runs


def _objective_runs():
  runs = [_with_binomial_only(_run("dense", extra=VALIDATION_FLAGS,
                                   certificates_beyond=False))]
  for variant, flags in OBJECTIVE_DENSE_VARIANTS.items():
    runs.append(_with_binomial_only(_run(
        "dense_robust", variant=variant, extra={**flags, **VALIDATION_FLAGS},
        certificates_beyond=False)))
  for sparsity, variants in OBJECTIVE_SWEEPS.items():
    for variant, flags in variants.items():
      run = _with_binomial_only(_run(
          "magnitude", sparsity, 0, variant,
          {"binarize": "global", **flags, **VALIDATION_FLAGS},
          certificates_beyond=False))
      if variant in OBJECTIVE_SOURCES:
        run = dataclasses.replace(run,
                                  pretrain_from=OBJECTIVE_SOURCES[variant])
      runs.append(run)
  return runs


def _selected(run, suite, methods, sparsities, seeds):
  key = run.variant if suite in ("ablation", "search") and (
      run.method == "csam") else run.method
  if suite == "objective" and run.method == "magnitude":
    key = run.variant
  if suite == "objective" and run.method == "dense_robust":
    key = f"dense_robust-{run.variant}"
  if suite == "vit" and run.variant != "default":
    key = f"{run.method}-{run.variant}"
  if suite == "search" and run.method == "magnitude":
    key = "magnitude" if run.variant == "default" else run.variant
  if suite in ("main", "main_v2") and run.variant != "default":
    key = f"{run.method}-{run.variant}"
  return ((not methods or key in methods) and
          (not sparsities or any(abs(run.sparsity - s) < 1e-9
                                 for s in sparsities)) and
          (not seeds or run.seed in seeds))


def _with_sources(wanted, runs):
  """`wanted` plus the runs their dense models come from, in `runs` order
  (which puts every source first)."""
  keep = ({r.name for r in wanted} |
          {r.pretrain_from for r in wanted if r.pretrain_from})
  return [r for r in runs if r.name in keep]


def finetune_epochs_overrides(runs: Sequence[ExperimentRun]
                              ) -> Dict[int, List[str]]:
  """Fine-tuning epochs -> the labels (workdir's first part) of the pruning
  runs whose own flags set them, so a table's header says which rows got a
  budget other than the flagfile's."""
  overrides: Dict[int, List[str]] = {}
  for run in runs:
    epochs = run.flags.get("finetune_epochs")
    if epochs is None or run.method in DENSE_METHODS:
      continue
    labels = overrides.setdefault(int(epochs), [])
    label = run.name.split("/", 1)[0]
    if label not in labels:
      labels.append(label)
  return overrides


def selection_keys(suite: str) -> Tuple[str, ...]:
  """What --methods may name in `suite`."""
  if suite == "ablation":
    return tuple(ABLATIONS)
  if suite == "structured":
    return ("dense", *STRUCTURED_METHODS)
  if suite == "search":
    return ("dense", *SEARCH_BASELINES, *SEARCH_VARIANTS)
  if suite == "vit":
    return ("dense", *VIT_UNSTRUCTURED, *VIT_STRUCTURED,
            *(f"{m}-robust" for m in VIT_UNSTRUCTURED))
  if suite == "objective":
    variants = dict.fromkeys(v for sweep in OBJECTIVE_SWEEPS.values()
                             for v in sweep)
    return ("dense", *(f"dense_robust-{v}" for v in OBJECTIVE_DENSE_VARIANTS),
            *variants)
  if suite == "main":
    return (*V3_DENSE, *V3_ROWS)
  return ("dense", *HEADLINE_METHODS, *OTHER_METHODS, *MAIN_VARIANTS)
