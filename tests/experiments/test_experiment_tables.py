"""The suites' BENCHMARKS.md tables from results.csv rows: cells, seed
ranges, per-seed differences, machines kept apart."""

import csv
import os

from csam_tf.core import atomic_io
from csam_tf.experiments import plot as experiment_plot
from csam_tf.experiments import rows as experiment_rows
from csam_tf.experiments import tables as experiment_tables
from finished_runs import write_run


def test_tables_and_csv(tmp_path):
  root = str(tmp_path)
  names = []
  for seed, (dense_acc, csam_pca, mag_pca) in enumerate(
      [(0.92, 0.40, 0.30), (0.93, 0.44, 0.32), (0.94, 0.42, 0.34)]):
    names.append(f"dense/seed{seed}")
    write_run(root, names[-1], "dense", 0.0, seed, dense_acc, 0.5,
               extra=True)
    for method, pca in (("csam", csam_pca), ("magnitude", mag_pca)):
      names.append(f"{method}/sp90/seed{seed}")
      # C-SAM's runs record the whole model's sparsity, these magnitude
      # ones (as from before PROTOCOL v2) do not
      write_run(root, names[-1], method, 0.9, seed, 0.9, pca, extra=True,
                 whole_model=0.897 + 0.001 * seed if method == "csam"
                 else None)
  # a labelled row (global allocation) beside the default one
  global_dir = write_run(root, "csam-global/sp90/seed0", "csam", 0.9, 0,
                          0.91, 0.48)
  spec = atomic_io.read_json(os.path.join(global_dir,
                                          experiment_rows.EXPERIMENT_FILE))
  spec["variant"] = "global"
  atomic_io.write_json(
      os.path.join(global_dir, experiment_rows.EXPERIMENT_FILE), spec)
  rows = experiment_rows.collect_rows(root, names + ["random/sp90/seed0",
                                             "csam-global/sp90/seed0"])
  assert len(rows) == 10
  table = experiment_tables.main_tables(
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
  paired = experiment_tables.paired_table(
      rows, (("csam", "magnitude", "layer-wise"),
             ("csam-global", "magnitude-global", "global")), (0.5, 0.9))
  # seed by seed: 40-30, 44-32, 42-34; no global magnitude run, no 50% runs
  assert paired.splitlines()[4:] == [
      "| 90% | layer-wise | 3 | 40.0 - 44.0 | 30.0 - 34.0 | no | +10.0, "
      "+12.0, +8.0 |  | 0.0, 0.0, 0.0 | 11.2 ± 0.0 |"]
  rows = [r for r in rows if r["variant"] == "default"]
  families = experiment_tables.family_table(rows,
                                            ("dense", "csam", "magnitude"), 0.9)
  assert "| csam | 3 | 42.0 ± 2.0 | 21.0 ± 1.0 | 21.0 ± 1.0 | 21.0 ± 1.0 |" \
      in families
  path = os.path.join(root, "results.csv")
  experiment_rows.write_csv(path, rows)
  with open(path) as f:
    read = list(csv.DictReader(f))
  assert len(read) == 9 and read[0]["run"] == "dense/seed0"
  assert experiment_plot.plot_pca_vs_sparsity(rows, ("csam", "magnitude"),
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
    write_run(root, f"csam/sp90/seed{seed}", "csam", 0.9, seed, 0.9, 0.4,
               machine=machine)
  rows = experiment_rows.collect_rows(root,
                                      [f"csam/sp90/seed{s}" for s in range(3)])
  table = experiment_tables.main_tables(rows, ("csam",), (0.9,))
  assert "| wall time per run (min, CPU, machine) |" in table
  # each run's commands took 100 s + 20 s: 2.0 min on either machine
  assert table.splitlines()[-1].endswith("| 200 | 2.0 ± 0.0 (A); 2.0 (B) |")
  one_machine = [r for r in rows if r["machine"] == fast]
  assert experiment_tables.main_tables(
      one_machine, ("csam",),
      (0.9,)).splitlines()[-1].endswith("| 200 | 2.0 ± 0.0 |")


def test_paired_table_overlap_and_signs():
  rows = _global_rows()
  table = experiment_tables.paired_table(
      rows, (("csam-global", "magnitude-global", "global"),), (0.7,))
  assert table.splitlines()[4] == (
      "| 70% | global | 2 | 30.0 - 40.0 | 33.0 - 35.0 | yes | +5.0, -3.0 |  | "
      "+1.0, 0.0 | 80.0 ± 0.0 |")
  one_seed = experiment_tables.paired_table(
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
  table = experiment_tables.paired_table(
      rows, (("csam-global", "magnitude-global", "global"),), (0.7,),
      str(tmp_path))
  # seed 0: 3 images only C-SAM certifies, 1 only magnitude; p = 2 x 5/16
  assert "| 3 / 1 (p 0.62), 0 / 0 (p 1) |" in table.splitlines()[4]


def test_ablation_table_reports_the_change_from_default(tmp_path):
  root = str(tmp_path)
  write_run(root, "csam/sp90/seed0", "csam", 0.9, 0, 0.9, 0.40)
  run_dir = write_run(root, "csam-no_stab/sp90/seed0", "csam", 0.9, 0, 0.89,
                       0.35)
  spec = atomic_io.read_json(
      os.path.join(run_dir, experiment_rows.EXPERIMENT_FILE))
  spec["variant"] = "no_stab"
  atomic_io.write_json(
      os.path.join(run_dir, experiment_rows.EXPERIMENT_FILE), spec)
  # the search's diagnostics (issue 14); the default run predates them
  report = atomic_io.read_json(os.path.join(run_dir, "report.json"))
  report["stages"]["mask"].update(mask_moved=0.01234, magnitude_overlap=0.987)
  atomic_io.write_json(os.path.join(run_dir, "report.json"), report)
  rows = experiment_rows.collect_rows(root, ["csam/sp90/seed0",
                                     "csam-no_stab/sp90/seed0"])
  table = experiment_tables.ablation_table(
      rows, {"default": {}, "no_stab": {"lambda_stab": 0.0}}, 0.9)
  assert ("| default | (none) | 11.2 | 0.812 | - | - | 90.0 | 40.0 |  | 2.0 |"
          in table)
  assert ("| no_stab | --lambda_stab=0.0 | 11.1 | 0.812 | 0.0123 | 98.7 | "
          "89.0 | 35.0 | -5.0 | 2.0 |" in table)


def test_structured_table_reads_size_and_speed(tmp_path):
  root = str(tmp_path)
  run_dir = write_run(root, "l1_filter/sp50/seed0", "l1_filter", 0.5, 0,
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
  rows = experiment_rows.collect_rows(root, ["l1_filter/sp50/seed0"])
  assert rows[0]["granularity"] == "channel"
  assert rows[0]["flops_reduction"] == 3.0
  table = experiment_tables.structured_table(rows, ("dense", "l1_filter"), 0.5)
  assert ("| l1_filter | 50.0% | 181,210 | 3.00x | 91.0 | 40.0 | "
          "0.300 / 0.120 (2.50x) | 2.0 |") in table


def test_vit_table_rows_for_weights_and_for_heads(tmp_path):
  root = str(tmp_path)
  write_run(root, "magnitude/sp70/seed0", "magnitude", 0.7, 0, 0.85, 0.30)
  run_dir = write_run(root, "taylor/sp50/seed0", "taylor", 0.5, 0, 0.83,
                       0.25)
  report = atomic_io.read_json(os.path.join(run_dir, "report.json"))
  report["flags"]["granularity"] = "channel"
  report["stages"]["finetune"].update(
      parameters_pruned=120_000, parameters_dense=205_834,
      flops_dense=23_057_152, flops_pruned=11_528_576)
  report["stages"]["export"] = {"dense_vs_pruned": {"float32": {
      "latency_ms_dense": 0.2, "latency_ms_pruned": 0.1, "speedup": 2.0}}}
  atomic_io.write_json(os.path.join(run_dir, "report.json"), report)
  rows = experiment_rows.collect_rows(root, ["magnitude/sp70/seed0",
                                     "taylor/sp50/seed0"])
  table = experiment_tables.vit_table(rows, ("dense", "magnitude", "taylor"))
  assert "| magnitude | weights | 70.0% | - | - | 85.0 | 30.0 | - |" in table
  assert ("| taylor | heads + MLP channels | 50.0% | 120,000 | 2.00x | 83.0 "
          "| 25.0 | 0.200 / 0.100 (2.00x) |") in table


def _v3_row(method, variant, sparsity, seed, accuracy, pca, binomial,
            all_correct, cpu):
  row = {column: "" for column in experiment_rows.COLUMNS}
  row.update(method=method, variant=variant, target_sparsity=sparsity,
             sparsity=sparsity, seed=seed, test_accuracy=accuracy,
             pca_composite_L2=pca, cpu_seconds=cpu,
             **{experiment_rows.BINOMIAL_COLUMN: binomial,
                experiment_rows.ALL_CORRECT_COLUMN: all_correct})
  return row


def _v3_rows():
  return [
      _v3_row("magnitude", "default", 0.9, 0, 0.90, 0.20, 0.15, 0.30, 600),
      _v3_row("magnitude", "default", 0.9, 1, 0.91, 0.24, 0.19, 0.32, 660),
      _v3_row("csam", "full", 0.9, 0, 0.895, 0.50, 0.41, 0.60, 1500),
      _v3_row("csam", "full", 0.9, 1, 0.90, 0.46, 0.40, 0.58, 1320),
      _v3_row("dense_robust", "default", 0.0, 0, 0.92, 0.62, 0.55, 0.70,
              3600),
      _v3_row("dense_robust", "shipped", 0.0, 0, 0.93, 0.66, 0.65, 0.68,
              2400),
  ]


def test_v3_tables_give_both_bounds_and_the_ceiling():
  table = experiment_tables.v3_tables(
      _v3_rows(), ("dense", "dense_robust", "dense_robust-shipped"),
      ("magnitude", "csam-full"), (0.9, 0.95))
  lines = table.splitlines()
  # each dense model its own line (one method, two variants)
  assert lines[4:6] == [
      "| dense_robust (robust) | 1 | 92.0 | 62.0 | 55.0 | 70.0 | 60.0 |",
      "| dense_robust-shipped (robust, shipped) | 1 | 93.0 | 66.0 | 65.0 | "
      "68.0 | 40.0 |"]
  assert lines[11] == ("| magnitude | CE | tfmot gradual magnitude, "
                       "layer-wise | CE | 2 | 90.0 ± 0.0% | 90.5 ± 0.7 | "
                       "22.0 ± 2.8 | 17.0 ± 2.8 | 31.0 ± 1.4 | - | "
                       "10.5 ± 0.7 |")
  assert lines[12].startswith("| csam-full | robust | C-SAM, global | "
                              "robust | 2 |")
  assert "95% unstructured" not in table   # no rows there: no table


def test_comparison_table_differences_per_seed_and_cpu_ratio():
  table = experiment_tables.comparison_table(_v3_rows(),
                                             [("csam-full", "magnitude")],
                                             (0.9,), "title")
  assert table.splitlines()[4] == (
      "| 90% | csam-full | magnitude | 2 | 46.0 - 50.0 | 20.0 - 24.0 | yes | "
      "+30.0, +22.0 | +26.0, +21.0 | -0.5, -1.0 | 2.25x |")


def test_cpu_time_is_per_machine_and_leaves_out_incomplete_runs():
  """CPU minutes: one mean per machine, a run whose CPU time is incomplete
  ("": resumed after its runner was killed) left out; the A / B ratio
  only from seeds whose two runs ran on one machine."""
  rows = _v3_rows()
  for row in rows:
    row["machine"] = "fast"
  rows[1]["machine"] = "slow"           # magnitude, seed 1
  rows[2]["cpu_seconds"] = ""           # csam-full, seed 0: resumed
  table = experiment_tables.v3_tables(rows, ("dense_robust",),
                                      ("magnitude", "csam-full"),
                                      (0.9,))
  lines = table.splitlines()
  assert lines[2].endswith("| CPU min per run, machine |")
  assert lines[10].endswith("| 10.0 (A); 11.0 (B) |")
  assert lines[11].endswith("| 22.0 (A) |")
  rows[3]["cpu_seconds"] = ""           # csam-full, seed 1: resumed too
  lines = experiment_tables.v3_tables(rows, ("dense_robust",),
                                      ("magnitude", "csam-full"),
                                      (0.9,)).splitlines()
  assert lines[11].endswith("| - |")
  rows[3]["cpu_seconds"] = 1320
  compared = experiment_tables.comparison_table(
      rows, [("csam-full", "magnitude")], (0.9,), "title")
  # seed 0: csam-full's CPU incomplete; seed 1: two machines
  assert compared.splitlines()[4].endswith("| -0.5, -1.0 | - |")
  rows[1]["machine"] = "fast"
  compared = experiment_tables.comparison_table(
      rows, [("csam-full", "magnitude")], (0.9,), "title")
  assert compared.splitlines()[4].endswith("| 2.00x |")   # 1320 / 660


def test_objective_table_reads_validation_numbers(tmp_path):
  rows = [_v3_row("magnitude", "magnitude_global", 0.9, 0, 0.9, 0.35, 0.3,
                  0.45, 300),
          _v3_row("magnitude", "robust_l5", 0.9, 0, 0.9, 0.55, 0.5, 0.62,
                  900)]
  rows[0]["validation_accuracy"], rows[1]["validation_accuracy"] = 0.91, 0.89
  for row in rows:
    row["wall_seconds"] = 600
  table = experiment_tables.objective_table(
      rows, {"magnitude_global": {}, "robust_l5": {"robust_lambda": 5}},
      0.9, "magnitude_global")
  assert table.splitlines()[-1] == (
      "| robust_l5 | --robust_lambda=5 | 89.0 | 55.0 | 50.0 | 62.0 | - | "
      "10.0 | 3.00x |")
  # CPU seconds of two machines are no ratio
  rows[1]["machine"] = "another CPU"
  table = experiment_tables.objective_table(
      rows, {"magnitude_global": {}, "robust_l5": {"robust_lambda": 5}},
      0.9, "magnitude_global")
  assert table.splitlines()[-1].endswith("| - |")
  rows[1]["machine"] = rows[0]["machine"]
  # another sparsity's table takes its rows only, and without a
  # cross-entropy run at that sparsity there is no ratio to give
  rows.append(_v3_row("magnitude", "robust_l5", 0.7, 0, 0.9, 0.61, 0.6,
                      0.65, 800))
  rows[-1]["validation_accuracy"], rows[-1]["wall_seconds"] = 0.905, 480
  table = experiment_tables.objective_table(
      rows, {"robust_l5": {"robust_lambda": 5}}, 0.7, "magnitude_global")
  assert table.splitlines()[0].startswith(
      "### Fine-tuning objective sweep, 70% global")
  assert table.splitlines()[-1] == (
      "| robust_l5 | --robust_lambda=5 | 90.5 | 61.0 | 60.0 | 65.0 | - | "
      "8.0 | - |")
  # a variant that starts from another dense model: that model's row
  # (only where a variant uses it), and the variant says where it starts
  rows.append(_v3_row("dense_robust", "l5", 0.0, 0, 0.9, 0.7, 0.68, 0.72,
                      2400))
  rows.append(_v3_row("magnitude", "full_l5", 0.7, 0, 0.9, 0.66, 0.64, 0.7,
                      800))
  for row in rows[-2:]:
    row["validation_accuracy"], row["wall_seconds"] = 0.91, 1200
  variants = {"robust_l5": {"robust_lambda": 5}, "full_l5": {
      "robust_lambda": 5}}
  lines = experiment_tables.objective_table(
      rows, variants, 0.7, "magnitude_global",
      {"full_l5": "dense_robust-l5/seed0"},
      {"l5": {"robust_lambda": 5.0}}).splitlines()
  assert lines[4] == ("| dense_robust-l5 (not pruned) | robust pre-training, "
                      "--robust_lambda=5.0 | 91.0 | 70.0 | 68.0 | 72.0 | - | "
                      "20.0 | |")
  assert lines[-1] == ("| full_l5 | --robust_lambda=5 (from dense_robust-l5) "
                       "| 91.0 | 66.0 | 64.0 | 70.0 | - | 20.0 | - |")
  assert "dense_robust-l5" not in experiment_tables.objective_table(
      rows, {"robust_l5": {}}, 0.7, "magnitude_global",
      {"full_l5": "dense_robust-l5/seed0"}, {"l5": {}})


def test_readme_headline_gives_each_row_its_seeds():
  rows = _v3_rows() + [
      _v3_row("csam", "shipped", 0.9, 0, 0.905, 0.64, 0.62, 0.66, 1800),
      _v3_row("dense", "default", 0.0, 0, 0.927, 0.46, 0.42, 0.49, 1000),
      _v3_row("csam", "full", 0.7, 0, 0.9, 0.7, 0.7, 0.7, 1500)]
  table = experiment_tables.readme_headline(rows, (0.7, 0.9))
  assert table.splitlines() == [
      "| model | sparsity | seeds | test acc. (%) | PCA@1e-3 (%) | "
      "binomial PCA (%) |",
      "|---|---|---|---|---|---|",
      "| dense, cross-entropy (not pruned) | 0% | 1 | 92.7 | 46.0 | 42.0 |",
      "| dense, robust pre-training (not pruned) | 0% | 1 | 93.0 | 66.0 | "
      "65.0 |",
      "| tfmot as users run it | 90% | 2 | 90.5 ± 0.7 | 22.0 ± 2.8 | "
      "17.0 ± 2.8 |",
      "| **csam_tf, the shipped pipeline** | 90% | 1 | 90.5 | 64.0 | 62.0 |"]
