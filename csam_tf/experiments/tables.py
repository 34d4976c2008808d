"""The BENCHMARKS.md tables of each suite, from results.csv rows: one
function per table, every cell a mean ± sd over seeds or a per-seed
difference."""

import collections
import os
import statistics
from typing import Dict, Optional, Sequence, Tuple

from csam_tf.core.machine import machine_keys, machine_of
from csam_tf.experiments.rows import (
    ALL_CORRECT_COLUMN, BINOMIAL_COLUMN, CERTIFICATES, HEADLINE_FAMILY,
    certified_images, label_rows, select_rows)
from csam_tf.experiments.seed_statistics import (
    mean_spread, ranges_overlap, seed_range, sign_test, signed_points)


def _cell(rows, column, scale=100.0):
  return mean_spread([r[column] for r in rows], scale)


def _minutes_unit(keys: Dict[str, str]) -> str:
  """The wall-time column's unit: 'min, CPU', and which machine when the
  rows span several (`machine_keys`)."""
  return "min, CPU, machine" if keys else "min, CPU"


def _minutes_per_machine(rows, keys: Dict[str, str], column: str) -> str:
  """Minutes per run from a seconds `column`; with several machines
  (`keys`), one mean per machine, e.g. '93.5 (B); 6.2 (A)': a mean over
  machines is no timing."""
  if not keys or not rows:
    return mean_spread([r[column] for r in rows], 1 / 60.0)
  by_machine = collections.defaultdict(list)
  for r in rows:
    by_machine[keys[machine_of(r)]].append(r[column])
  return "; ".join(f"{mean_spread(seconds, 1 / 60.0)} ({key})"
                   for key, seconds in sorted(by_machine.items()))


def _minutes(rows, keys: Dict[str, str]) -> str:
  """Wall minutes per run, one mean per machine (`_minutes_per_machine`)."""
  return _minutes_per_machine(rows, keys, "wall_seconds")


def main_tables(rows: Sequence[Dict[str, object]],
                methods: Sequence[str], sparsities: Sequence[float]) -> str:
  """Accuracy and PCA per method at each sparsity, then the extra families
  at the sparsity where they were certified."""
  pca, emp = (f"{kind}_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
              for kind in ("pca", "empirical_accuracy"))
  dense = select_rows(rows, method="dense")
  keys = machine_keys(rows)
  out = []
  for sparsity in sparsities:
    out += [f"### {sparsity:.0%} unstructured sparsity", "",
            "| method | seeds | measured sparsity, pruned layers (whole "
            "model) | test accuracy (%) | "
            "PCA@1e-3 composite L2 (%) | PCA@1e-3 (binomial, rigorous) (%) "
            "| all samples correct (%) "
            "| empirical acc. composite L2 (%) | binary masks before "
            "fine-tuning, test acc. (%) | kept weights shared with "
            "magnitude (%) | certified images | wall time per run "
            f"({_minutes_unit(keys)}) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label in methods:
      group = dense if label == "dense" else label_rows(rows, label,
                                                         sparsity)
      if not group:
        continue
      out.append(
          f"| {label} | {len(group)} | {_sparsity(group)} | "
          f"{_cell(group, 'test_accuracy')} | {_cell(group, pca)} | "
          f"{_cell(group, BINOMIAL_COLUMN)} | "
          f"{_cell(group, ALL_CORRECT_COLUMN)} | "
          f"{_cell(group, emp)} | "
          f"{_cell(group, 'mask_binary_test_accuracy')} | "
          f"{_cell(group, 'magnitude_overlap')} | {group[0]['cert_images']} | "
          f"{_minutes(group, keys)} |")
    out.append("")
  return "\n".join(out)


def _sparsity(rows) -> str:
  """'90.0 ± 0.0% (89.8%)': the pruned layers' sparsity over the seeds and,
  in brackets, the whole model's mean (PROTOCOL: report both); the pruned
  layers' alone for runs recorded without the whole model's."""
  whole = [r["sparsity_whole_model"] for r in rows
           if r.get("sparsity_whole_model", "") != ""]
  cell = f"{_cell(rows, 'sparsity')}%"
  if len(whole) < len(rows):
    return cell
  return f"{cell} ({100 * statistics.fmean(map(float, whole)):.1f}%)"


def _discordant(root, ours, theirs) -> str:
  """'2 / 12 (p 0.013)': images only `ours` certifies, only `theirs` does,
  and the sign test on them."""
  a, b = (certified_images(os.path.join(root, row["run"]), row)
          for row in (ours, theirs))
  wins, losses = len(a - b), len(b - a)
  return f"{wins} / {losses} (p {sign_test(wins, losses):.2g})"


def paired_table(rows, pairs, sparsities, root: Optional[str] = None) -> str:
  """C-SAM against magnitude pruning with the same allocation: both PCA
  ranges over the seeds, whether they overlap, and the difference seed by
  seed (both runs of a seed prune the same dense model). With the runs'
  `root`, also how many of the same images each certifies and the other
  does not, with the exact two-sided sign test (McNemar's) on those: a
  small p says the two models differ on more than the choice of test
  images (not across training seeds: that is what the ranges show)."""
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  out = ["### C-SAM against tfmot magnitude pruning, seed by seed", "",
         "| sparsity | allocation | seeds | C-SAM PCA@1e-3 composite L2, "
         "range (%) | magnitude, range (%) | ranges overlap | C-SAM minus "
         "magnitude, per seed (PCA points) | images certified by C-SAM "
         "only / by magnitude only, per seed (sign test) | C-SAM minus "
         "magnitude, test accuracy, per seed (points) | C-SAM binary masks "
         "before fine-tuning, test acc. (%) |",
         "|---|---|---|---|---|---|---|---|---|---|"]
  for sparsity in sparsities:
    for csam_label, magnitude_label, allocation in pairs:
      csam = {r["seed"]: r for r in label_rows(rows, csam_label, sparsity)}
      magnitude = {r["seed"]: r for r in label_rows(rows, magnitude_label,
                                                     sparsity)}
      seeds = sorted(set(csam) & set(magnitude), key=int)
      if not seeds:
        continue
      ours = [float(csam[s][pca]) * 100 for s in seeds]
      theirs = [float(magnitude[s][pca]) * 100 for s in seeds]
      overlap = ("-" if len(seeds) < 2 else  # (one seed has no range)
                 "yes" if ranges_overlap(ours, theirs) else "no")
      differences = ", ".join(
          signed_points(a - b) for a, b in zip(ours, theirs))
      accuracy = ", ".join(signed_points(100 * (
          float(csam[s]["test_accuracy"]) -
          float(magnitude[s]["test_accuracy"]))) for s in seeds)
      binary = _cell([csam[s] for s in seeds], "mask_binary_test_accuracy")
      only = "" if root is None else ", ".join(
          _discordant(root, csam[s], magnitude[s]) for s in seeds)
      out.append(f"| {sparsity:.0%} | {allocation} | {len(seeds)} | "
                 f"{seed_range(ours)} | {seed_range(theirs)} | "
                 f"{overlap} | {differences} | {only} | "
                 f"{accuracy} | {binary} |")
  return "\n".join(out + [""])


V3_ROW_TEXT = {  # what each v3 row is, for readers
    "dense": ("CE", "none (dense)", "-"),
    "dense_robust": ("robust", "none (dense)", "-"),
    "dense_robust-shipped": ("robust, shipped", "none (dense)", "-"),
    "magnitude": ("CE", "tfmot gradual magnitude, layer-wise", "CE"),
    "csam-shipped": ("robust, shipped", "C-SAM, global", "robust, shipped"),
    "magnitude-shipped": ("robust, shipped",
                          "tfmot gradual magnitude, global",
                          "robust, shipped"),
    "magnitude-global_robust": ("CE", "tfmot gradual magnitude, global",
                                "robust"),
    "csam-global_robust": ("CE", "C-SAM, global", "robust"),
    "magnitude-full": ("robust", "tfmot gradual magnitude, global",
                       "robust"),
    "csam-full": ("robust", "C-SAM, global", "robust"),
}


# README's headline (label -> what it is for a user): the dense models,
# then per sparsity tfmot as users run it, the shipped pipeline and its
# mask control.
README_DENSE = (("dense", "dense, cross-entropy (not pruned)"),
                ("dense_robust-shipped",
                 "dense, robust pre-training (not pruned)"))
README_PRUNED = (("magnitude", "tfmot as users run it"),
                 ("csam-shipped", "**csam_tf, the shipped pipeline**"),
                 ("magnitude-shipped", "the same with magnitude masks"))


def readme_headline(rows, sparsities: Sequence[float]) -> str:
  """README's result table from the v3 suite: test accuracy, PCA by
  CC-Cert and by the binomial bound, mean ± sd over the seeds each row
  has."""
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  out = ["| model | sparsity | seeds | test acc. (%) | PCA@1e-3 (%) | "
         "binomial PCA (%) |", "|---|---|---|---|---|---|"]
  groups = []
  for label, text in README_DENSE:
    groups.append((text, "0%", label_rows(rows, label)))
  for sparsity in sparsities:
    for label, text in README_PRUNED:
      groups.append((text, f"{sparsity:.0%}",
                     label_rows(rows, label, sparsity)))
  for text, sparsity, group in groups:
    if group:
      out.append(f"| {text} | {sparsity} | {len(group)} | "
                 f"{_cell(group, 'test_accuracy')} | {_cell(group, pca)} | "
                 f"{_cell(group, BINOMIAL_COLUMN)} |")
  return "\n".join(out + [""])


def _cpu_minutes(rows, keys: Dict[str, str]) -> str:
  """CPU minutes per run (user + system of the run's own commands; the
  shared dense model's training not counted), one mean per machine when
  the rows span several (`keys`); runs whose CPU time is incomplete
  (`rows._cpu_seconds`) are left out."""
  return _minutes_per_machine([r for r in rows if r["cpu_seconds"] != ""],
                              keys, "cpu_seconds")


def v3_tables(rows, dense_labels: Sequence[str], labels: Sequence[str],
              sparsities: Sequence[float]) -> str:
  """The v3 main suite: the dense models, then one table per sparsity
  with every row's dense model, masks and fine-tuning objective, test
  accuracy, PCA by CC-Cert and by the binomial bound, and PCA's ceiling
  (all samples correct)."""
  keys = machine_keys(rows)
  cpu_unit = "CPU min per run" + (", machine" if keys else "")
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  columns = ("| test acc. (%) | PCA@1e-3 composite L2, CC-Cert (%) | "
             "PCA, binomial (%) | all samples correct (%) |")
  out = ["### Dense models", "",
         "| dense model | seeds " + columns + f" {cpu_unit} |",
         "|---|---|---|---|---|---|---|"]
  for label in dense_labels:
    group = label_rows(rows, label)
    if group:
      out.append(f"| {label} ({V3_ROW_TEXT[label][0]}) | {len(group)} | "
                 f"{_cell(group, 'test_accuracy')} | {_cell(group, pca)} | "
                 f"{_cell(group, BINOMIAL_COLUMN)} | "
                 f"{_cell(group, ALL_CORRECT_COLUMN)} | "
                 f"{_cpu_minutes(group, keys)} |")
  out.append("")
  for sparsity in sparsities:
    table = [f"### {sparsity:.0%} unstructured sparsity", "",
             "| row | dense model | masks | fine-tuning | seeds | measured "
             "sparsity, pruned layers (whole model) " + columns +
             " binary masks before fine-tuning, test acc. (%) | "
             f"{cpu_unit} |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label in labels:
      group = label_rows(rows, label, sparsity)
      if not group:
        continue
      source, masks, objective = V3_ROW_TEXT[label]
      table.append(
          f"| {label} | {source} | {masks} | {objective} | {len(group)} | "
          f"{_sparsity(group)} | {_cell(group, 'test_accuracy')} | "
          f"{_cell(group, pca)} | {_cell(group, BINOMIAL_COLUMN)} | "
          f"{_cell(group, ALL_CORRECT_COLUMN)} | "
          f"{_cell(group, 'mask_binary_test_accuracy')} | "
          f"{_cpu_minutes(group, keys)} |")
    if len(table) > 4:
      out += table + [""]
  return "\n".join(out)


def comparison_table(rows, pairs, sparsities, title: str) -> str:
  """Row A against row B of the same seeds (the same dense model): both
  PCA ranges over the seeds by CC-Cert and by the binomial bound, whether
  the CC-Cert ranges are apart, the per-seed differences, and the
  difference in test accuracy."""
  out = [f"### {title}", "",
         "| sparsity | A | B | seeds | A, PCA CC-Cert range (%) | B (%) | "
         "ranges apart | A minus B per seed, CC-Cert (points) | A minus B per "
         "seed, binomial (points) | A minus B, test accuracy per seed "
         "(points) | A / B CPU time per run |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  for sparsity in sparsities:
    for a_label, b_label in pairs:
      a = {r["seed"]: r for r in label_rows(rows, a_label, sparsity)}
      b = {r["seed"]: r for r in label_rows(rows, b_label, sparsity)}
      seeds = sorted(set(a) & set(b), key=int)
      if not seeds:
        continue
      ours = [float(a[s][pca]) * 100 for s in seeds]
      theirs = [float(b[s][pca]) * 100 for s in seeds]
      apart = ("-" if len(seeds) < 2 else
               "no" if ranges_overlap(ours, theirs) else "yes")

      def differences(column, scale=100.0):
        return ", ".join(
            "-" if "" in (a[s][column], b[s][column]) else
            signed_points(scale * (float(a[s][column]) - float(b[s][column])))
            for s in seeds)

      # CPU time compares on one machine only
      cpu = [float(a[s]["cpu_seconds"]) / float(b[s]["cpu_seconds"])
             for s in seeds
             if "" not in (a[s]["cpu_seconds"], b[s]["cpu_seconds"])
             and machine_of(a[s]) == machine_of(b[s])]
      ratio = f"{statistics.fmean(cpu):.2f}x" if cpu else "-"
      out.append(f"| {sparsity:.0%} | {a_label} | {b_label} | {len(seeds)} "
                 f"| {seed_range(ours)} | {seed_range(theirs)} | {apart} | "
                 f"{differences(pca)} | {differences(BINOMIAL_COLUMN)} | "
                 f"{differences('test_accuracy')} | {ratio} |")
  return "\n".join(out + [""])


def family_table(rows, methods, sparsity) -> str:
  """PCA@1e-3 on every certified family and level, dense and the methods
  certified on all of them at `sparsity`."""
  header = " | ".join(f"{f} {l}" for f, l in CERTIFICATES)
  out = [f"### PCA@1e-3 (%) per family, {sparsity:.0%} sparsity", "",
         f"| method | seeds | {header} |",
         "|---|---|" + "---|" * len(CERTIFICATES)]
  for method in methods:
    group = (select_rows(rows, method="dense") if method == "dense" else
             select_rows(rows, method=method, variant="default",
                         target_sparsity=sparsity))
    last_family, last_level = CERTIFICATES[-1]
    if not group or group[0][f"pca_{last_family}_{last_level}"] == "":
      continue
    cells = " | ".join(_cell(group, f"pca_{f}_{l}") for f, l in CERTIFICATES)
    out.append(f"| {method} | {len(group)} | {cells} |")
  return "\n".join(out + [""])


def ablation_table(rows, variants: Dict[str, Dict[str, object]],
                   sparsity: float) -> str:
  """One row per C-SAM variant, with the change from the default."""
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  keys = machine_keys(rows)
  out = [f"### C-SAM ablations, {sparsity:.0%} unstructured sparsity", "",
         "| variant | flags | binary masks before fine-tuning, test "
         "accuracy (%) | mean soft mask | mean abs(C - C_init) | kept "
         "weights shared with magnitude (%) | test accuracy (%) | PCA@1e-3 "
         "composite L2 (%) | vs default (PCA points) | mask search + "
         f"fine-tune + certify ({_minutes_unit(keys)}) |",
         "|---|---|---|---|---|---|---|---|---|---|"]
  default = select_rows(rows, method="csam", variant="default",
                   target_sparsity=sparsity)
  base = float(default[0][pca]) * 100 if default else None
  for variant, flags in variants.items():
    group = select_rows(rows, method="csam", variant=variant,
                   target_sparsity=sparsity)
    if not group:
      continue
    change = ", ".join(f"--{k}={v}" for k, v in flags.items()) or "(none)"
    delta = "" if base is None or variant == "default" else (
        f"{float(group[0][pca]) * 100 - base:+.1f}")
    mask_mean = group[0]["mask_mean"]
    mask_mean = "" if mask_mean == "" else f"{float(mask_mean):.3f}"
    out.append(f"| {variant} | {change} | "
               f"{_cell(group, 'mask_binary_test_accuracy')} | {mask_mean} | "
               f"{mean_spread([r['mask_moved'] for r in group], 1.0, 4)} | "
               f"{_cell(group, 'magnitude_overlap')} | "
               f"{_cell(group, 'test_accuracy')} | {_cell(group, pca)} | "
               f"{delta} | {_minutes(group, keys)} |")
  return "\n".join(out + [""])


def search_table(rows, baselines: Dict[str, Dict[str, object]],
                 variants: Dict[str, Dict[str, object]],
                 sparsity: float) -> str:
  """The validation sweep at one sparsity: validation numbers only (the
  test images stay untouched until the final tables)."""
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  keys = machine_keys(rows)
  out = [f"### Search sweep, {sparsity:.0%} unstructured sparsity "
         "(validation split)", "",
         "| run | flags | binary masks before fine-tuning, validation acc. "
         "(%) | mean abs(C - C_init) | kept weights shared with magnitude "
         "(%) | validation acc. (%) | validation PCA@1e-3 composite L2 (%) "
         f"| wall time ({_minutes_unit(keys)}) |",
         "|---|---|---|---|---|---|---|---|"]
  entries = [("magnitude", name, flags) for name, flags in baselines.items()]
  entries += [("csam", name, flags) for name, flags in variants.items()]
  for method, name, flags in entries:
    variant = "default" if name == "magnitude" else name
    group = select_rows(rows, method=method, variant=variant,
                   target_sparsity=sparsity)
    if not group:
      continue
    row = group[0]
    moved = "" if row["mask_moved"] == "" else (
        f"{float(row['mask_moved']):.4f}")
    change = ", ".join(f"--{k}={v}" for k, v in flags.items()) or "(none)"
    out.append(
        f"| {method if method == name else f'{method} {name}'} | {change} | "
        f"{_cell(group, 'mask_binary_validation_accuracy')} | {moved} | "
        f"{_cell(group, 'magnitude_overlap')} | "
        f"{_cell(group, 'validation_accuracy')} | {_cell(group, pca)} | "
        f"{_minutes(group, keys)} |")
  return "\n".join(out + [""])


def objective_table(rows, variants: Dict[str, Dict[str, object]],
                    sparsity: float, ce_variant: str,
                    sources: Optional[Dict[str, str]] = None,
                    dense_flags: Optional[Dict[str, Dict[str, object]]] = None
                    ) -> str:
  """The objective sweep at one sparsity: one row per fine-tuning objective
  of the same masks (tfmot's global gradual magnitude pruning), validation
  numbers only, PCA beside its ceiling and its rigorous companion; CPU
  time against the `ce_variant` run's at that sparsity ('-' without it or
  when the two ran on different machines).
  A variant in `sources` starts from that dense run (e.g.
  "dense_robust-l5/seed0", whose flags `dense_flags["l5"]` gives) instead
  of the CE one: its dense model gets a row, and the variant's flags say
  where it starts."""
  sources, dense_flags = sources or {}, dense_flags or {}
  # variant -> the label of the dense run it starts from, where not the CE one
  starts = {v: sources[v].split("/")[0] for v in variants if v in sources}
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  keys = machine_keys(rows)

  def row(name, change, group, ratio=""):
    return (f"| {name} | {change} | {_cell(group, 'validation_accuracy')} | "
            f"{_cell(group, pca)} | {_cell(group, BINOMIAL_COLUMN)} | "
            f"{_cell(group, ALL_CORRECT_COLUMN)} | "
            f"{_cell(group, 'empirical_accuracy_composite_L2')} | "
            f"{_minutes(group, keys)} |" + (f" {ratio} |" if ratio else " |"))

  out = [f"### Fine-tuning objective sweep, {sparsity:.0%} global "
         "magnitude pruning (validation split)", "",
         "| objective | flags | validation acc. (%) | validation PCA@1e-3 "
         "composite L2, CC-Cert (%) | binomial PCA (%) | all samples correct "
         "(%) | empirical acc. (%) | wall time "
         f"({_minutes_unit(keys)}) | CPU time vs CE |",
         "|---|---|---|---|---|---|---|---|---|"]
  dense = select_rows(rows, method="dense")
  if dense:
    out.append(row("dense (not pruned)", "-", dense))
  for label in dict.fromkeys(starts.values()):
    method, _, variant = label.partition("-")
    group = select_rows(rows, method=method, variant=variant)
    if group:
      change = ", ".join(f"--{k}={v}" for k, v in dense_flags.get(
          variant, {}).items())
      out.append(row(f"{label} (not pruned)",
                     f"robust pre-training, {change}", group))
  base = select_rows(rows, method="magnitude", variant=ce_variant,
                     target_sparsity=sparsity)
  base_cpu = float(base[0]["cpu_seconds"] or 0) if base else 0.0
  for variant, flags in variants.items():
    group = select_rows(rows, method="magnitude", variant=variant,
                        target_sparsity=sparsity)
    if not group:
      continue
    change = ", ".join(f"--{k}={v}" for k, v in flags.items()) or (
        "(cross-entropy)")
    if variant in starts:
      change += f" (from {starts[variant]})"
    cpu = float(group[0]["cpu_seconds"] or 0)
    same_machine = base and machine_of(base[0]) == machine_of(group[0])
    ratio = (f"{cpu / base_cpu:.2f}x" if base_cpu and cpu and same_machine
             else "-")
    out.append(row(variant, change, group, ratio))
  return "\n".join(out + [""])


def _size_and_speed(row) -> Tuple[str, str, str]:
  """A pruned row's cells: parameters, FLOP reduction, .tflite latency
  dense / pruned (speed-up); '-' where the run did not measure it."""
  parameters = "-" if row["parameters"] == "" else (
      f"{int(row['parameters']):,}")
  reduction = "-" if row["flops_reduction"] == "" else (
      f"{float(row['flops_reduction']):.2f}x")
  speed = "-" if row["tflite_speedup"] == "" else (
      f"{float(row['tflite_latency_ms_dense']):.3f} / "
      f"{float(row['tflite_latency_ms']):.3f} "
      f"({float(row['tflite_speedup']):.2f}x)")
  return parameters, reduction, speed


def structured_table(rows, methods: Sequence[str], sparsity: float) -> str:
  """Channel pruning: accuracy, PCA, size and float32 TFLite speed."""
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  keys = machine_keys(rows)
  out = [f"### {sparsity:.0%} channel sparsity (channels physically "
         "removed)", "",
         "| method | channels removed | parameters | FLOP reduction | test "
         "accuracy (%) | PCA@1e-3 composite L2 (%) | .tflite float32 latency "
         "ms dense / pruned (speed-up, CPU) | wall time "
         f"({_minutes_unit(keys)}) |",
         "|---|---|---|---|---|---|---|---|"]
  for method in methods:
    group = (select_rows(rows, method="dense") if method == "dense" else
             select_rows(rows, method=method, variant="default",
                         target_sparsity=sparsity))
    if not group:
      continue
    parameters, reduction, speed = _size_and_speed(group[0])
    out.append(f"| {method} | {_cell(group, 'sparsity')}% | {parameters} | "
               f"{reduction} | {_cell(group, 'test_accuracy')} | "
               f"{_cell(group, pca)} | {speed} | {_minutes(group, keys)} |")
  return "\n".join(out + [""])


def vit_table(rows, methods: Sequence[str]) -> str:
  """The ViT suite: weights (unstructured) or heads and MLP channels
  (physically removed) against the dense ViT, with .tflite sizes and
  latency."""
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  keys = machine_keys(rows)
  out = ["### ViT: 70% of the weights, or 50% of the heads and MLP "
         "channels", "",
         "| method | pruned | sparsity achieved | parameters | FLOP "
         "reduction | test accuracy (%) | PCA@1e-3 composite L2 (%) | "
         ".tflite float32 latency ms dense / pruned (speed-up, CPU) | wall "
         f"time ({_minutes_unit(keys)}) |",
         "|---|---|---|---|---|---|---|---|---|"]
  for method in methods:
    for row in (r for r in rows if r["method"] == method):
      pruned = {"dense": "-", "unstructured": "weights"}.get(
          row["granularity"], "heads + MLP channels")
      parameters, reduction, speed = _size_and_speed(row)
      label = method if row["variant"] in ("default", "") else (
          f"{method} ({row['variant']} fine-tuning)")
      out.append(
          f"| {label} | {pruned} | {_cell([row], 'sparsity')}% | "
          f"{parameters} | {reduction} | {_cell([row], 'test_accuracy')} | "
          f"{_cell([row], pca)} | {speed} | {_minutes([row], keys)} |")
  return "\n".join(out + [""])
