"""--tfmot_baseline's bad input: one line before any work (the baseline
itself runs in test_train_cli.py's all-stages run, as the demo runs it;
the summary's column: test_run_summary.py)."""

import os

import pytest

from conftest import run_cli


@pytest.mark.parametrize("args,message", [
    (["--tfmot_baseline", "--granularity=channel"],
     "--tfmot_baseline prunes single weights in one process"),
    (["--tfmot_baseline", "--strategy=multi_worker"],
     "--tfmot_baseline prunes single weights in one process"),
])
def test_a_baseline_tfmot_cannot_make_is_one_line(tmp_path, args, message):
  result = run_cli(f"--workdir={tmp_path / 'run'}", *args, timeout=120)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0], result.stderr
  assert not os.path.exists(tmp_path / "run")


def test_a_baseline_without_the_dense_model_is_one_line(tmp_path):
  workdir = tmp_path / "run"
  (workdir / "finetune").mkdir(parents=True)
  (workdir / "finetune" / "model.keras").write_bytes(b"")
  result = run_cli(f"--workdir={workdir}", "--stages=export",
                   "--tfmot_baseline", timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      f"csam_tf.train: error: --tfmot_baseline prunes the run's dense model "
      f"(pretrain/best.weights.h5), which --workdir={workdir} does not "
      f"have: add pretrain to --stages"]


def test_the_baseline_is_tfmots_fine_tuning_on_the_runs_budget():
  # pylint: disable=import-outside-toplevel
  from csam_tf.certify.config import CertifyConfig
  from csam_tf.data.config import DataConfig
  from csam_tf.pipeline import stages, tfmot_baseline
  from trainers.finetune_config import FinetuneConfig
  from trainers.mask_search_config import MaskSearchConfig
  from trainers.pretrain_config import PretrainConfig
  cfg = stages.RunConfig(
      seed=3, deterministic=True, data=DataConfig(), arch="resnet10",
      width_multiplier=0.0625, pretrain=PretrainConfig(),
      mask=MaskSearchConfig(),
      finetune=FinetuneConfig(epochs=1, steps_per_epoch=100,
                              learning_rate=0.02, sparsity=0.9,
                              ratio_weight=1.0),
      certify=CertifyConfig(num_images=50),
      run_flags={"seed": 3, "finetune_objective": "robust",
                 "binarize": "auto", "cert_models": ["dense", "pruned"]})
  baseline = tfmot_baseline.baseline_config(cfg, "run/tfmot_baseline")
  finetune = baseline.finetune
  assert (finetune.pruning, finetune.objective, finetune.binarize,
          finetune.ratio_weight) == ("polynomial_decay", "ce", "layerwise",
                                     0.0)
  assert (finetune.epochs, finetune.steps_per_epoch, finetune.learning_rate,
          finetune.sparsity) == (1, 100, 0.02, 0.9)
  assert baseline.certify.models == ("pruned",)
  assert baseline.certify.num_images == 50 and baseline.seed == 3
  assert baseline.run_flags == {
      "seed": 3, "finetune_objective": "ce", "binarize": "layerwise",
      "cert_models": ["pruned"], "finetune_pruning": "polynomial_decay",
      "finetune_ratio_weight": 0.0, "finetune_sam_rho": 0.0,
      "tfmot_baseline": False, "stages": ["finetune", "certify"],
      "workdir": "run/tfmot_baseline"}
  assert cfg.finetune.objective == "robust"       # the run's own untouched
