"""The one-line plan a run prints at start (stages and their budgets) and,
after the first training steps, a rough time for the training stages on
this machine, measured rather than assumed."""

import time
from typing import Dict, Sequence

import tf_keras

# A C-SAM mask-search step does 6 forward passes and their backward
# passes: about 6 cross-entropy training steps (BENCHMARKS.md, figure 1).
MASK_STEP_IN_CE_STEPS = 6
FIRST_STEPS = 20


def robust_step_in_ce_steps(robust) -> float:
  """A robust step trains on every view (a forward and a backward pass
  each); worst-of-k adds k - 1 forward passes (about a third of a step)
  per transformed view."""
  return (robust.views + int(robust.clean_view) +
          robust.views * (robust.worst_of - 1) / 3.0)


def stage_step_cost(stage: str, cfg) -> float:
  """One training step of `stage` in cross-entropy steps."""
  if stage == "mask":
    return MASK_STEP_IN_CE_STEPS if cfg.mask.method == "csam" else 2
  stage_cfg = getattr(cfg, stage, None)
  if getattr(stage_cfg, "objective", "ce") == "robust":
    return robust_step_in_ce_steps(stage_cfg.robust)
  return 1.0


def _search_steps(cfg, data) -> int:
  return cfg.mask.epochs * data.steps_per_epoch(cfg.mask.steps_per_epoch)


def _finetune_steps_per_epoch(cfg, data) -> int:
  return data.steps_per_epoch(cfg.finetune.steps_per_epoch)


def training_steps(stages: Sequence[str], cfg, data) -> Dict[str, int]:
  """Cross-entropy-step equivalents of each training stage in `stages`."""
  steps = {}
  if "pretrain" in stages and not cfg.init_model:
    steps["pretrain"] = round(cfg.pretrain.epochs * data.steps_per_epoch() *
                              stage_step_cost("pretrain", cfg))
  if "mask" in stages and cfg.mask.method in ("csam", "score_ce"):
    steps["mask"] = _search_steps(cfg, data) * stage_step_cost("mask", cfg)
  if "finetune" in stages:
    steps["finetune"] = round(cfg.finetune.epochs * _finetune_steps_per_epoch(
        cfg, data) * stage_step_cost("finetune", cfg))
  return steps


def _objective(stage_cfg) -> str:
  """' (robust, 3 views)' for a stage on the robust objective."""
  if getattr(stage_cfg, "objective", "ce") != "robust":
    return ""
  views = stage_cfg.robust.views + int(stage_cfg.robust.clean_view)
  return f" (robust, {views} views)"


def plan_line(stages: Sequence[str], cfg, data) -> str:
  """'plan: pretrain 6 epochs x 430 steps, mask 150 steps, ...'."""
  parts = []
  for stage in stages:
    if stage == "pretrain" and cfg.init_model:
      parts.append(f"pretrain: import {cfg.init_model} (no training)")
    elif stage == "pretrain":
      parts.append(f"pretrain {cfg.pretrain.epochs} epochs x "
                   f"{data.steps_per_epoch()} steps"
                   f"{_objective(cfg.pretrain)}")
    elif stage == "mask":
      parts.append(f"mask ({cfg.mask.method}) {_search_steps(cfg, data)} "
                   f"steps")
    elif stage == "finetune":
      parts.append(f"finetune {cfg.finetune.epochs} epochs x "
                   f"{_finetune_steps_per_epoch(cfg, data)} steps"
                   f"{_objective(cfg.finetune)}")
    elif stage == "certify":
      c = cfg.certify
      parts.append(f"certify {'+'.join(c.models)} on {c.num_images} "
                   f"{c.split} images x {len(c.families) * len(c.levels)} "
                   f"family/level, up to {c.nsamples * c.nbounds} samples "
                   f"each")
    else:
      parts.append(stage)
  return "plan: " + ", ".join(parts)


class FirstStepsEstimate(tf_keras.callbacks.Callback):
  """After the first FIRST_STEPS steps of the first training stage, prints
  the measured time per step and what it makes of every training stage."""

  def __init__(self, steps: Dict[str, int], stage: str,
               step_cost: float = 1.0):
    super().__init__()
    self._steps, self._stage, self._step_cost = steps, stage, step_cost
    self._start = None
    self._printed = False

  def on_train_batch_begin(self, batch, logs=None):
    if self._start is None and batch == 1:  # after the first (traced) step
      self._start = time.time()

  def on_train_batch_end(self, batch, logs=None):
    if self._printed or self._start is None or batch < FIRST_STEPS:
      return
    self._printed = True
    per_step = (time.time() - self._start) / (batch - 1 + 1e-9)
    per_ce_step = per_step / self._step_cost  # what `steps` counts
    estimates = {stage: steps * per_ce_step / 60
                 for stage, steps in self._steps.items()}
    print(f"\n  rough time on this machine (CPU, from {self._stage}'s first "
          f"steps: {per_step * 1000:.0f} ms per training step): " +
          ", ".join(f"{stage} ~{minutes:.1f} min"
                    for stage, minutes in estimates.items()) +
          "; export and certification come on top", flush=True)
