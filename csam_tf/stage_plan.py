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


def _search_steps(cfg, data) -> int:
  return cfg.mask.epochs * data.steps_per_epoch(cfg.mask.steps_per_epoch)


def _finetune_steps_per_epoch(cfg, data) -> int:
  return data.steps_per_epoch(cfg.finetune.steps_per_epoch)


def training_steps(stages: Sequence[str], cfg, data) -> Dict[str, int]:
  """Cross-entropy-step equivalents of each training stage in `stages`."""
  steps = {}
  if "pretrain" in stages and not cfg.init_model:
    steps["pretrain"] = cfg.pretrain.epochs * data.steps_per_epoch()
  if "mask" in stages and cfg.mask.method in ("csam", "score_ce"):
    steps["mask"] = _search_steps(cfg, data) * (
        MASK_STEP_IN_CE_STEPS if cfg.mask.method == "csam" else 2)
  if "finetune" in stages:
    steps["finetune"] = cfg.finetune.epochs * _finetune_steps_per_epoch(
        cfg, data)
  return steps


def plan_line(stages: Sequence[str], cfg, data) -> str:
  """'plan: pretrain 6 epochs x 430 steps, mask 150 steps, ...'."""
  parts = []
  for stage in stages:
    if stage == "pretrain" and cfg.init_model:
      parts.append(f"pretrain: import {cfg.init_model} (no training)")
    elif stage == "pretrain":
      parts.append(f"pretrain {cfg.pretrain.epochs} epochs x "
                   f"{data.steps_per_epoch()} steps")
    elif stage == "mask":
      parts.append(f"mask ({cfg.mask.method}) {_search_steps(cfg, data)} "
                   f"steps")
    elif stage == "finetune":
      parts.append(f"finetune {cfg.finetune.epochs} epochs x "
                   f"{_finetune_steps_per_epoch(cfg, data)} steps")
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

  def __init__(self, steps: Dict[str, int], stage: str):
    super().__init__()
    self._steps, self._stage = steps, stage
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
    if self._stage == "mask":
      per_step /= MASK_STEP_IN_CE_STEPS
    estimates = {stage: steps * per_step / 60
                 for stage, steps in self._steps.items()}
    print(f"\n  rough time on this machine (CPU, from {self._stage}'s first "
          f"steps: {per_step * 1000:.0f} ms per training step): " +
          ", ".join(f"{stage} ~{minutes:.1f} min"
                    for stage, minutes in estimates.items()) +
          "; export and certification come on top", flush=True)
