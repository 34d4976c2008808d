"""results.csv rows from a run's report.json and experiment.json: the
measured numbers, compute totals, unfinished runs left out."""

import json
import os

from csam_tf.experiments import rows as experiment_rows
from finished_runs import write_run


def test_row_reads_the_measured_numbers(tmp_path):
  run_dir = write_run(str(tmp_path), "csam/sp90/seed1", "csam", 0.9, 1,
                       0.88, 0.41, measured=0.8999, extra=True,
                       whole_model=0.8982)
  row = experiment_rows.result_row(run_dir, "csam/sp90/seed1")
  assert row["method"] == "csam" and row["seed"] == 1
  assert row["target_sparsity"] == 0.9 and row["sparsity"] == 0.8999
  assert row["sparsity_whole_model"] == 0.8982
  assert row["test_accuracy"] == 0.88
  assert row["pca_composite_L2"] == 0.41
  assert row["pca_rotation_L2"] == 0.205
  assert row["pca_binomial_composite_L2"] == 0.1025
  assert row["empirical_accuracy_brightness_L2"] == 0.85
  assert row["cert_images"] == 200
  assert row["wall_seconds"] == 120.0 and row["commands"] == 2
  assert row["cpu_seconds"] == ""  # a run from before CPU was measured
  assert row["pretrain_wall_seconds"] == 250.0
  assert row["pretrain_shared_from"] == "dense/seed1"
  # mask 130 + fine-tune 90 + four certificates of 40 s + the binomial
  # one of 60 s; the shared pre-training (250 s) belongs to the dense run.
  assert row["stage_seconds"] == 440.0
  dense_dir = write_run(str(tmp_path), "dense/seed1", "dense", 0.0, 1,
                         0.92, 0.45, cpu=(180.5, 30.25))
  dense = experiment_rows.result_row(dense_dir, "dense/seed1")
  assert dense["stage_seconds"] == 290.0
  # 290 s of stages in 120 s of recorded commands: a command whose runner
  # was killed did the rest, and its CPU time was never recorded
  assert dense["cpu_seconds"] == ""
  whole = write_run(str(tmp_path), "dense/seed2", "dense", 0.0, 2, 0.92,
                    0.45, cpu=(180.5, 30.25), command_seconds=(250.0, 45.0))
  assert experiment_rows.result_row(whole, "dense/seed2")[
      "cpu_seconds"] == 210.8
  assert experiment_rows.suite_hours([row, dense]) == 730.0 / 3600.0
  # 120 s of commands: csam 2 commands for 440 s of stages (an interrupted
  # run: skipped), dense 2 commands for 290 s (skipped too); a run whose
  # commands took 20 s more than its stages over 2 commands: 10 s each.
  assert experiment_rows.startup_seconds([row, dense]) == 0.0
  assert experiment_rows.startup_seconds([dict(row,
                                               stage_seconds=100.0)]) == 10.0
  assert list(row) == list(experiment_rows.COLUMNS)


def test_a_run_whose_stage_resumed_has_no_cpu_cell(tmp_path):
  """A fine-tuning resumed after epoch 3 from a checkpoint without its
  training time recorded only its last invocation's wall time, so the
  stage times cannot show the killed command (the v3 suite's
  magnitude-global_robust/sp90/seed0): the stage says it resumed and the
  CPU cell stays empty. With that time, the cells count it."""
  run_dir = write_run(str(tmp_path), "magnitude/sp90/seed2", "magnitude",
                      0.9, 2, 0.88, 0.41, cpu=(180.5, 30.25),
                      command_seconds=(250.0, 45.0))
  assert experiment_rows.result_row(run_dir, "magnitude/sp90/seed2")[
      "cpu_seconds"] == 210.8
  path = os.path.join(run_dir, "report.json")
  with open(path) as f:
    report = json.load(f)
  report["stages"]["finetune"]["resumed_after_epoch"] = 3
  with open(path, "w") as f:
    json.dump(report, f)
  assert experiment_rows.result_row(run_dir, "magnitude/sp90/seed2")[
      "cpu_seconds"] == ""
  # with its earlier invocations' training time (beside the checkpoint it
  # resumed from) the run's cells add it: 210.75 + 95.15 CPU seconds, and
  # 295 s of commands + 120 s wall
  report["stages"]["finetune"]["earlier_invocations"] = {
      "wall_seconds": 120.0, "cpu_seconds": 95.15}
  with open(path, "w") as f:
    json.dump(report, f)
  row = experiment_rows.result_row(run_dir, "magnitude/sp90/seed2")
  assert (row["cpu_seconds"], row["wall_seconds"]) == (305.9, 415.0)
  del report["stages"]["finetune"]["earlier_invocations"]
  # a shared pre-training that resumed is the dense run's, not this one's
  report["stages"]["finetune"]["resumed_after_epoch"] = 0
  report["stages"]["pretrain"]["resumed_after_epoch"] = 2
  with open(path, "w") as f:
    json.dump(report, f)
  assert experiment_rows.result_row(run_dir, "magnitude/sp90/seed2")[
      "cpu_seconds"] == 210.8


def test_unfinished_runs_have_no_row(tmp_path):
  run_dir = write_run(str(tmp_path), "csam/sp50/seed0", "csam", 0.5, 0,
                       0.9, 0.4, complete=False)
  assert experiment_rows.result_row(run_dir, "csam/sp50/seed0") is None
  assert experiment_rows.result_row(str(tmp_path / "missing"), "x") is None
