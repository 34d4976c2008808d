"""results.csv rows from a run's report.json, mean ± sd cells, tables and
the BENCHMARKS.md section splice."""

import csv
import os

import pytest

from csam_tf import atomic_io
from csam_tf.experiments import results


def _write_run(root, name, method, sparsity, seed, test_accuracy, pca,
               measured=None, complete=True, extra=False, cpu=None,
               machine=None, whole_model=None):
  run_dir = os.path.join(root, name)
  os.makedirs(run_dir)
  dense = method == "dense"
  model = "dense" if dense else "pruned"
  certify = {f"{model}_composite_L2": {
      "pca@0.001": pca, "clean_accuracy": 0.9, "empirical_accuracy": 0.8,
      "images": 200, "seconds_this_invocation": 40.0}}
  if extra:
    for family, level in (("composite", "L1"), ("brightness", "L2"),
                          ("rotation", "L2")):
      certify[f"{model}_{family}_{level}"] = {
          "pca@0.001": pca / 2, "clean_accuracy": 0.9,
          "empirical_accuracy": 0.85, "images": 200,
          "seconds_this_invocation": 40.0}
    certify[f"{model}_composite_L2_binomial"] = {
        "pca@0.001": pca / 4, "clean_accuracy": 0.9, "images": 200,
        "seconds_this_invocation": 60.0}
  stages = {"pretrain": {"test_accuracy": 0.92, "validation_accuracy": 0.93,
                         "wall_seconds": 250.0},
            "certify": certify}
  if not dense:
    stages["mask"] = {"binary_test_accuracy": test_accuracy / 8,
                      "mask_mean": 0.8125, "wall_seconds": 130.0}
    stages["finetune"] = {"wall_seconds": 90.0,"test_accuracy": test_accuracy,
                          "validation_accuracy": test_accuracy + 0.01,
                          "sparsity": sparsity if measured is None
                          else measured}
    if whole_model is not None:  # runs since PROTOCOL v2 record it
      stages["finetune"]["sparsity_whole_model"] = whole_model
  else:
    stages["pretrain"]["test_accuracy"] = test_accuracy
  atomic_io.write_json(os.path.join(run_dir, "report.json"), {
      "flags": {"dataset": "fashion_mnist", "arch": "resnet18",
                "width_multiplier": 0.25, "granularity": "unstructured",
                "cert_eps": 0.001},
      "stages": stages})
  commands = [{"seconds": 100.0}, {"seconds": 20.0}]
  for command, seconds in zip(commands, cpu or ()):  # the runner's, per
    command["cpu_seconds"] = seconds                 # command (newer runs)
  if machine:
    for command in commands:
      command["machine"] = machine
  atomic_io.write_json(os.path.join(run_dir, results.EXPERIMENT_FILE), {
      "method": method, "variant": "default", "sparsity": sparsity,
      "seed": seed, "pretrain_from": "" if dense else f"dense/seed{seed}",
      "commands": commands, "complete": complete})
  return run_dir


def test_row_reads_the_measured_numbers(tmp_path):
  run_dir = _write_run(str(tmp_path), "csam/sp90/seed1", "csam", 0.9, 1,
                       0.88, 0.41, measured=0.8999, extra=True,
                       whole_model=0.8982)
  row = results.result_row(run_dir, "csam/sp90/seed1")
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
  dense_dir = _write_run(str(tmp_path), "dense/seed1", "dense", 0.0, 1,
                         0.92, 0.45, cpu=(180.5, 30.25))
  dense = results.result_row(dense_dir, "dense/seed1")
  assert dense["stage_seconds"] == 290.0
  assert dense["cpu_seconds"] == 210.8
  assert results.suite_hours([row, dense]) == 730.0 / 3600.0
  # 120 s of commands: csam 2 commands for 440 s of stages (an interrupted
  # run: skipped), dense 2 commands for 290 s (skipped too); a run whose
  # commands took 20 s more than its stages over 2 commands: 10 s each.
  assert results.startup_seconds([row, dense]) == 0.0
  assert results.startup_seconds([dict(row, stage_seconds=100.0)]) == 10.0
  assert list(row) == list(results.COLUMNS)


def test_unfinished_runs_have_no_row(tmp_path):
  run_dir = _write_run(str(tmp_path), "csam/sp50/seed0", "csam", 0.5, 0,
                       0.9, 0.4, complete=False)
  assert results.result_row(run_dir, "csam/sp50/seed0") is None
  assert results.result_row(str(tmp_path / "missing"), "x") is None


def test_mean_spread():
  assert results.mean_spread([0.9]) == "90.0"
  # mean 91.0, sample sd of (90, 91, 92) = 1.0
  assert results.mean_spread([0.90, 0.91, 0.92]) == "91.0 ± 1.0"
  assert results.mean_spread([60.0, 120.0], 1 / 60.0) == "1.5 ± 0.7"
  assert results.mean_spread([]) == "-"
  assert results.mean_spread(["", 0.5]) == "50.0"


def test_tables_and_csv(tmp_path):
  root = str(tmp_path)
  names = []
  for seed, (dense_acc, csam_pca, mag_pca) in enumerate(
      [(0.92, 0.40, 0.30), (0.93, 0.44, 0.32), (0.94, 0.42, 0.34)]):
    names.append(f"dense/seed{seed}")
    _write_run(root, names[-1], "dense", 0.0, seed, dense_acc, 0.5,
               extra=True)
    for method, pca in (("csam", csam_pca), ("magnitude", mag_pca)):
      names.append(f"{method}/sp90/seed{seed}")
      # C-SAM's runs record the whole model's sparsity, these magnitude
      # ones (as from before PROTOCOL v2) do not
      _write_run(root, names[-1], method, 0.9, seed, 0.9, pca, extra=True,
                 whole_model=0.897 + 0.001 * seed if method == "csam"
                 else None)
  # a labelled row (global allocation) beside the default one
  global_dir = _write_run(root, "csam-global/sp90/seed0", "csam", 0.9, 0,
                          0.91, 0.48)
  spec = atomic_io.read_json(os.path.join(global_dir,
                                          results.EXPERIMENT_FILE))
  spec["variant"] = "global"
  atomic_io.write_json(os.path.join(global_dir, results.EXPERIMENT_FILE), spec)
  rows = results.collect_rows(root, names + ["random/sp90/seed0",
                                             "csam-global/sp90/seed0"])
  assert len(rows) == 10
  table = results.main_tables(
      rows, ("dense", "csam", "magnitude", "random", "csam-global"),
      (0.5, 0.9))
  assert ("| dense | 3 | 0.0 ± 0.0% (0.0%) | 93.0 ± 1.0 | 50.0 ± 0.0 |"
          in table)
  # whole model: mean of 89.7, 89.8, 89.9
  assert ("| csam | 3 | 90.0 ± 0.0% (89.8%) | 90.0 ± 0.0 | 42.0 ± 2.0 |"
          in table)
  assert "| magnitude | 3 | 90.0 ± 0.0% | 90.0 ± 0.0 | 32.0 ± 2.0 |" in table
  assert "| csam-global | 1 | 90.0% | 91.0 | 48.0 |" in table
  assert "random" not in table
  paired = results.paired_table(
      rows, (("csam", "magnitude", "layer-wise"),
             ("csam-global", "magnitude-global", "global")), (0.5, 0.9))
  # seed by seed: 40-30, 44-32, 42-34; no global magnitude run, no 50% runs
  assert paired.splitlines()[4:] == [
      "| 90% | layer-wise | 3 | 40.0 - 44.0 | 30.0 - 34.0 | no | +10.0, "
      "+12.0, +8.0 |  | 0.0, 0.0, 0.0 | 11.2 ± 0.0 |"]
  rows = [r for r in rows if r["variant"] == "default"]
  families = results.family_table(rows, ("dense", "csam", "magnitude"), 0.9)
  assert "| csam | 3 | 42.0 ± 2.0 | 21.0 ± 1.0 | 21.0 ± 1.0 | 21.0 ± 1.0 |" \
      in families
  path = os.path.join(root, "results.csv")
  results.write_csv(path, rows)
  with open(path) as f:
    read = list(csv.DictReader(f))
  assert len(read) == 9 and read[0]["run"] == "dense/seed0"
  assert results.plot_pca_vs_sparsity(rows, ("csam", "magnitude"),
                                      (0.5, 0.7, 0.9),
                                      os.path.join(root, "plot.png"))
  assert os.path.getsize(os.path.join(root, "plot.png")) > 1000


def _global_rows():
  """results.csv rows of C-SAM and magnitude, global allocation, 70%."""
  def row(method, seed, pca, accuracy):
    return {"method": method, "variant": "global", "target_sparsity": 0.7,
            "seed": seed, "pca_composite_L2": pca, "test_accuracy": accuracy,
            "mask_binary_test_accuracy": 0.8 if method == "csam" else "",
            "run": f"{method}-global/sp70/seed{seed}", "cert_images": 4}
  return [row("csam", 0, 0.40, 0.91), row("csam", 1, 0.30, 0.8996),
          row("magnitude", 0, 0.35, 0.90), row("magnitude", 1, 0.33, 0.90),
          row("csam", 2, 0.50, 0.90)]  # seed 2 has no magnitude run


def test_timings_from_several_machines_are_not_averaged(tmp_path):
  """A suite restored from records spans machines: the header keys them
  and each wall-time cell gives one mean per machine."""
  root = str(tmp_path)
  fast, slow = "AMD EPYC, 2 cores, AVX-512", "AMD EPYC, 2 cores, AVX2"
  for seed, machine in enumerate((slow, fast, fast)):
    _write_run(root, f"csam/sp90/seed{seed}", "csam", 0.9, seed, 0.9, 0.4,
               machine=machine)
  rows = results.collect_rows(root, [f"csam/sp90/seed{s}" for s in range(3)])
  assert results.machine_keys(rows) == {fast: "A", slow: "B"}  # by label
  assert results.machine_counts(rows) == (
      f"machine A: {fast} (2 runs); machine B: {slow} (1 run)")
  table = results.main_tables(rows, ("csam",), (0.9,))
  assert "| wall time per run (min, CPU, machine) |" in table
  # each run's commands took 100 s + 20 s: 2.0 min on either machine
  assert table.splitlines()[-1].endswith("| 200 | 2.0 ± 0.0 (A); 2.0 (B) |")
  one_machine = [r for r in rows if r["machine"] == fast]
  assert results.machine_keys(one_machine) == {}
  assert results.machine_counts(one_machine) == f"{fast} (2 runs)"
  assert results.main_tables(one_machine, ("csam",), (0.9,)).splitlines()[
      -1].endswith("| 200 | 2.0 ± 0.0 |")


def test_paired_table_overlap_and_signs():
  rows = _global_rows()
  table = results.paired_table(
      rows, (("csam-global", "magnitude-global", "global"),), (0.7,))
  assert table.splitlines()[4] == (
      "| 70% | global | 2 | 30.0 - 40.0 | 33.0 - 35.0 | yes | +5.0, -3.0 |  | "
      "+1.0, 0.0 | 80.0 ± 0.0 |")
  one_seed = results.paired_table(
      rows[:1] + rows[2:3], (("csam-global", "magnitude-global", "global"),),
      (0.7,))
  assert one_seed.splitlines()[4] == (
      "| 70% | global | 1 | 40.0 | 35.0 | - | +5.0 |  | +1.0 | 80.0 |")


def _certified_csv(run_dir, certified):
  """The run's headline certificate: image i certified when certified[i]
  (a fifth row beyond cert_images, certified, must not count)."""
  path = os.path.join(run_dir, "certify", "pruned_composite_L2.csv")
  os.makedirs(os.path.dirname(path))
  with open(path, "w") as f:
    f.write("index,label,prediction,margin,bound,certified\n")
    for i, c in enumerate(list(certified) + [1]):
      f.write(f"{i},0,0,0.5,{0.0 if c else 1.0},{c}\n")


def test_paired_table_counts_the_images_each_certifies_alone(tmp_path):
  rows = _global_rows()
  for name, certified in (("csam-global/sp70/seed0", (1, 1, 1, 0)),
                          ("magnitude-global/sp70/seed0", (0, 0, 0, 1)),
                          ("csam-global/sp70/seed1", (1, 0, 0, 0)),
                          ("magnitude-global/sp70/seed1", (1, 0, 0, 0))):
    _certified_csv(str(tmp_path / name), certified)
  table = results.paired_table(
      rows, (("csam-global", "magnitude-global", "global"),), (0.7,),
      str(tmp_path))
  # seed 0: 3 images only C-SAM certifies, 1 only magnitude; p = 2 x 5/16
  assert "| 3 / 1 (p 0.62), 0 / 0 (p 1) |" in table.splitlines()[4]


@pytest.mark.parametrize("wins,losses,p", [
    (2, 12, 0.012939453125), (6, 0, 0.03125), (3, 5, 0.7265625),
    (0, 0, 1.0), (4, 4, 1.0)])
def test_sign_test_is_the_exact_two_sided_binomial(wins, losses, p):
  assert results.sign_test(wins, losses) == pytest.approx(p, rel=1e-12)


def test_ablation_table_reports_the_change_from_default(tmp_path):
  root = str(tmp_path)
  _write_run(root, "csam/sp90/seed0", "csam", 0.9, 0, 0.9, 0.40)
  run_dir = _write_run(root, "csam-no_stab/sp90/seed0", "csam", 0.9, 0, 0.89,
                       0.35)
  spec = atomic_io.read_json(os.path.join(run_dir, results.EXPERIMENT_FILE))
  spec["variant"] = "no_stab"
  atomic_io.write_json(os.path.join(run_dir, results.EXPERIMENT_FILE), spec)
  # the search's diagnostics (issue 14); the default run predates them
  report = atomic_io.read_json(os.path.join(run_dir, "report.json"))
  report["stages"]["mask"].update(mask_moved=0.01234, magnitude_overlap=0.987)
  atomic_io.write_json(os.path.join(run_dir, "report.json"), report)
  rows = results.collect_rows(root, ["csam/sp90/seed0",
                                     "csam-no_stab/sp90/seed0"])
  table = results.ablation_table(
      rows, {"default": {}, "no_stab": {"lambda_stab": 0.0}}, 0.9)
  assert ("| default | (none) | 11.2 | 0.812 | - | - | 90.0 | 40.0 |  | 2.0 |"
          in table)
  assert ("| no_stab | --lambda_stab=0.0 | 11.1 | 0.812 | 0.0123 | 98.7 | "
          "89.0 | 35.0 | -5.0 | 2.0 |" in table)


@pytest.mark.parametrize("document,expected", [
    ("# B\n\ntext\n", "# B\n\ntext\n\n<!-- BEGIN s -->\nnew\n<!-- END s -->\n"),
    ("a\n<!-- BEGIN s -->\nold\n<!-- END s -->\nb\n",
     "a\n<!-- BEGIN s -->\nnew\n<!-- END s -->\nb\n"),
])
def test_replace_section(document, expected):
  assert results.replace_section(document, "s", "new\n") == expected


def test_structured_table_reads_size_and_speed(tmp_path):
  root = str(tmp_path)
  run_dir = _write_run(root, "l1_filter/sp50/seed0", "l1_filter", 0.5, 0,
                       0.91, 0.40)
  report = atomic_io.read_json(os.path.join(run_dir, "report.json"))
  report["flags"]["granularity"] = "channel"
  report["stages"]["finetune"].update(
      parameters_pruned=181210, parameters_dense=703578,
      flops_dense=60_000_000, flops_pruned=20_000_000)
  report["stages"]["export"] = {"dense_vs_pruned": {"float32": {
      "latency_ms_dense": 0.3, "latency_ms_pruned": 0.12,
      "speedup": 2.5}}}
  atomic_io.write_json(os.path.join(run_dir, "report.json"), report)
  rows = results.collect_rows(root, ["l1_filter/sp50/seed0"])
  assert rows[0]["granularity"] == "channel"
  assert rows[0]["flops_reduction"] == 3.0
  table = results.structured_table(rows, ("dense", "l1_filter"), 0.5)
  assert ("| l1_filter | 50.0% | 181,210 | 3.00x | 91.0 | 40.0 | "
          "0.300 / 0.120 (2.50x) | 2.0 |") in table


def test_vit_table_rows_for_weights_and_for_heads(tmp_path):
  root = str(tmp_path)
  _write_run(root, "magnitude/sp70/seed0", "magnitude", 0.7, 0, 0.85, 0.30)
  run_dir = _write_run(root, "taylor/sp50/seed0", "taylor", 0.5, 0, 0.83,
                       0.25)
  report = atomic_io.read_json(os.path.join(run_dir, "report.json"))
  report["flags"]["granularity"] = "channel"
  report["stages"]["finetune"].update(
      parameters_pruned=120_000, parameters_dense=205_834,
      flops_dense=23_057_152, flops_pruned=11_528_576)
  report["stages"]["export"] = {"dense_vs_pruned": {"float32": {
      "latency_ms_dense": 0.2, "latency_ms_pruned": 0.1, "speedup": 2.0}}}
  atomic_io.write_json(os.path.join(run_dir, "report.json"), report)
  rows = results.collect_rows(root, ["magnitude/sp70/seed0",
                                     "taylor/sp50/seed0"])
  table = results.vit_table(rows, ("dense", "magnitude", "taylor"))
  assert "| magnitude | weights | 70.0% | - | - | 85.0 | 30.0 | - |" in table
  assert ("| taylor | heads + MLP channels | 50.0% | 120,000 | 2.00x | 83.0 "
          "| 25.0 | 0.200 / 0.100 (2.00x) |") in table


def _v3_row(method, variant, sparsity, seed, accuracy, pca, binomial,
            all_correct, cpu):
  row = {column: "" for column in results.COLUMNS}
  row.update(method=method, variant=variant, target_sparsity=sparsity,
             sparsity=sparsity, seed=seed, test_accuracy=accuracy,
             pca_composite_L2=pca, cpu_seconds=cpu,
             **{results.BINOMIAL_COLUMN: binomial,
                results.ALL_CORRECT_COLUMN: all_correct})
  return row


def _v3_rows():
  return [
      _v3_row("magnitude", "default", 0.9, 0, 0.90, 0.20, 0.15, 0.30, 600),
      _v3_row("magnitude", "default", 0.9, 1, 0.91, 0.24, 0.19, 0.32, 660),
      _v3_row("csam", "full", 0.9, 0, 0.895, 0.50, 0.41, 0.60, 1500),
      _v3_row("csam", "full", 0.9, 1, 0.90, 0.46, 0.40, 0.58, 1320),
      _v3_row("dense_robust", "default", 0.0, 0, 0.92, 0.62, 0.55, 0.70,
              3600),
  ]


def test_v3_tables_give_both_bounds_and_the_ceiling():
  table = results.v3_tables(_v3_rows(), ("magnitude", "csam-full"), (0.9,
                                                                      0.95))
  lines = table.splitlines()
  assert lines[4] == ("| dense_robust (robust) | 1 | 92.0 | 62.0 | 55.0 | "
                      "70.0 | 60.0 |")
  assert lines[10] == ("| magnitude | CE | tfmot gradual magnitude, "
                       "layer-wise | CE | 2 | 90.0 ± 0.0% | 90.5 ± 0.7 | "
                       "22.0 ± 2.8 | 17.0 ± 2.8 | 31.0 ± 1.4 | - | "
                       "10.5 ± 0.7 |")
  assert lines[11].startswith("| csam-full | robust | C-SAM, global | "
                              "robust | 2 |")
  assert "95% unstructured" not in table   # no rows there: no table


def test_comparison_table_differences_per_seed_and_cpu_ratio():
  table = results.comparison_table(_v3_rows(), [("csam-full", "magnitude")],
                                   (0.9,), "title")
  assert table.splitlines()[4] == (
      "| 90% | csam-full | magnitude | 2 | 46.0 - 50.0 | 20.0 - 24.0 | yes | "
      "+30.0, +22.0 | +26.0, +21.0 | -0.5, -1.0 | 2.25x |")


def test_objective_table_reads_validation_numbers(tmp_path):
  rows = [_v3_row("magnitude", "magnitude_global", 0.9, 0, 0.9, 0.35, 0.3,
                  0.45, 300),
          _v3_row("magnitude", "robust_l5", 0.9, 0, 0.9, 0.55, 0.5, 0.62,
                  900)]
  rows[0]["validation_accuracy"], rows[1]["validation_accuracy"] = 0.91, 0.89
  for row in rows:
    row["wall_seconds"] = 600
  table = results.objective_table(rows, {"magnitude_global": {},
                                         "robust_l5": {"robust_lambda": 5}},
                                  0.9)
  assert table.splitlines()[-1] == (
      "| robust_l5 | --robust_lambda=5 | 89.0 | 55.0 | 50.0 | 62.0 | - | "
      "10.0 | 3.00x |")


def test_all_samples_correct_needs_every_sample_of_every_image():
  from csam_tf.certify import rows as csv_rows
  rows = [{"prediction": 1, "label": 1, "samples": 4, "correct_transformed": 4},
          {"prediction": 1, "label": 1, "samples": 4, "correct_transformed": 3},
          {"prediction": 2, "label": 1, "samples": 4, "correct_transformed": 0},
          {"prediction": 0, "label": 0, "samples": 4, "correct_transformed": 4}]
  assert csv_rows.all_samples_correct(rows) == 0.5
  rows[1]["samples"] = 2   # stopped early: its other samples are unknown
  assert str(csv_rows.all_samples_correct(rows)) == "nan"
