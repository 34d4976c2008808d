"""The plan line and the step costs it is built from: a robust step costs
one cross-entropy step per view (plus a third per extra worst-of-k draw),
and the plan says which stage trains on the robust objective."""

import types

import pytest

from csam_tf.pipeline import plan as stage_plan
from trainers.finetune_config import FinetuneConfig
from trainers.mask_search_config import MaskSearchConfig
from trainers.pretrain_config import PretrainConfig
from trainers.robust_config import RobustConfig


class _Data:
  def steps_per_epoch(self, cut=0):
    return cut or 430


def _cfg(pretrain_objective="ce", finetune_robust=None):
  return types.SimpleNamespace(
      init_model="", pretrain=PretrainConfig(epochs=2,
                                             objective=pretrain_objective),
      mask=MaskSearchConfig(method="csam", epochs=1, steps_per_epoch=150),
      finetune=FinetuneConfig(epochs=1, **(
          {"objective": "robust", "robust": finetune_robust}
          if finetune_robust else {"objective": "ce"})))


@pytest.mark.parametrize("robust,cost", [
    (RobustConfig(), 2.0),                                   # x, T1 x
    (RobustConfig(views=2), 3.0),                            # x, T1 x, T2 x
    (RobustConfig(views=1, clean_view=False, weight=0.0), 1.0),
    (RobustConfig(views=2, worst_of=4), 3.0 + 2 * 3 / 3.0),
])
def test_a_robust_step_costs_one_step_per_view(robust, cost):
  assert stage_plan.robust_step_in_ce_steps(robust) == pytest.approx(cost)
  cfg = _cfg(finetune_robust=robust)
  assert stage_plan.stage_step_cost("finetune", cfg) == pytest.approx(cost)
  assert stage_plan.training_steps(["finetune"], cfg, _Data()) == {
      "finetune": round(430 * cost)}


def test_the_plan_names_the_robust_stages():
  cfg = _cfg(pretrain_objective="robust")
  line = stage_plan.plan_line(["pretrain", "mask", "finetune"], cfg, _Data())
  assert line == ("plan: pretrain 2 epochs x 430 steps (robust, 2 views), "
                  "mask (csam) 150 steps, finetune 1 epochs x 430 steps")
  assert stage_plan.training_steps(["pretrain", "mask"], cfg, _Data()) == {
      "pretrain": 2 * 430 * 2, "mask": 150 * 6}


def test_the_first_steps_estimate_prints_a_step_and_counts_its_cost(
    monkeypatch, capsys):
  """A robust step (2 cross-entropy steps) measured at 0.9 s: the line
  gives the stage's own step time, and every stage's minutes from the
  steps the plan counts in cross-entropy steps (0.45 s each)."""
  clock = iter([100.0, 100.0 + 0.9 * (stage_plan.FIRST_STEPS - 1)])
  monkeypatch.setattr(stage_plan.time, "time", lambda: next(clock))
  estimate = stage_plan.FirstStepsEstimate(
      {"pretrain": 2 * 430 * 2, "finetune": 400}, "pretrain", step_cost=2.0)
  for batch in range(stage_plan.FIRST_STEPS + 2):
    estimate.on_train_batch_begin(batch)
    estimate.on_train_batch_end(batch)
  assert capsys.readouterr().out == (
      "\n  rough time on this machine (CPU, from pretrain's first steps: "
      "900 ms per training step): pretrain ~12.9 min, finetune ~3.0 min; "
      "export and certification come on top\n")
