"""csam_tf.demo_budget: what a finished run made, the ratio line, and bad
input before any run starts (each run's measurement:
test_child_usage.py)."""

import json
import os
import subprocess
import sys

from conftest import REPO

from csam_tf.performance import demo_budget


def test_run_outcome_reads_the_report(tmp_path):
  report = {"flags": {"cert_eps": 0.001, "width_multiplier": 0.125,
                      "pretrain_epochs": 2, "mask_steps_per_epoch": 60,
                      "finetune_epochs": 1, "finetune_steps_per_epoch": 100,
                      "cert_num_images": 100},
            "stages": {"pretrain": {"test_accuracy": 0.903,
                                    "wall_seconds": 80.0},
                       "finetune": {"test_accuracy": 0.899, "sparsity": 0.5},
                       "certify": {"dense_composite_L2": {"pca@0.001": 0.41},
                                   "pruned_composite_L2": {"pca@0.001": 0.4}}}}
  (tmp_path / "report.json").write_text(json.dumps(report))
  out = demo_budget.run_outcome(str(tmp_path))
  assert out["dense_test_accuracy"] == 0.903
  assert out["pruned_test_accuracy"] == 0.899
  assert (out["pca_dense"], out["pca_pruned"]) == (0.41, 0.4)
  assert out["stage_seconds"]["pretrain"] == 80.0
  assert out["stage_seconds"]["export"] is None
  assert (out["mask_steps"], out["finetune_steps"]) == (60, 100)


def _result(config, cpu, wall):
  return {"config": config, "cpu_seconds": cpu, "wall_seconds": wall,
          "peak_rss_gb": 1.5, "exit_code": 0, "dense_test_accuracy": 0.9,
          "pruned_test_accuracy": 0.89, "sparsity": 0.5, "pca_dense": 0.4,
          "pca_pruned": 0.38, "width": 0.125, "pretrain_epochs": 2,
          "mask_steps": 60, "finetune_epochs": 1, "finetune_steps": 100,
          "cert_images": 100,
          "stage_seconds": dict.fromkeys(demo_budget.STAGES, 10.0)}


def test_section_gives_the_ratio_against_the_first_config():
  text = demo_budget.section(
      [_result("a.cfg", 100.0, 120.0), _result("b.cfg", 650.0, 600.0)],
      "python -m csam_tf.demo_budget", "Some CPU, 2 cores, AVX2")
  assert "on Some CPU, 2 cores, AVX2 (CPU;" in text
  assert "`b.cfg` / `a.cfg`: **6.5x** the CPU seconds, 5.0x the wall" in text
  assert "| 90.00% | 89.00% (50.00%) | 40.00% / 38.00% | 10, 10, 10, 10, 10 |" \
      in text
  assert "60 search steps, 1 fine-tune epoch(s) of 100 steps, 100 " in text


def test_missing_config_is_one_line_before_any_run(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "csam_tf.demo_budget",
       "--budget_configs=configs/demo.cfg,configs/nope.cfg",
       f"--budget_workdir={tmp_path / 'runs'}"], cwd=REPO,
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      "csam_tf.demo_budget: error: --budget_configs: no such flagfile "
      "configs/nope.cfg"]
  assert not os.path.exists(tmp_path / "runs")
