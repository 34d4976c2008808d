"""From finished run workdirs to results.csv, the BENCHMARKS.md tables and
the PCA-vs-sparsity plot. Reads only report.json and experiment.json (and,
for the seed-by-seed comparison, the headline certificate's CSV), so the
tables can be regenerated at any time from what is on disk."""

import collections
import csv
import math
import os
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from csam_tf import atomic_io
from csam_tf.certify import resume as certify_resume
from csam_tf.certify import rows as csv_rows
from csam_tf.experiments import suites as experiment_suites

EXPERIMENT_FILE = "experiment.json"
CERTIFICATES = (("composite", "L2"), ("composite", "L1"),
                ("brightness", "L2"), ("rotation", "L2"))
HEADLINE_FAMILY = ("composite", "L2")
# The rigorous companion of the headline PCA: the binomial bound on
# P(Y >= a) (certify.config.BOUNDS), composite L2.
BINOMIAL_COLUMN = "pca_binomial_composite_L2"
# PCA's ceiling in practice: the share of images whose every sampled
# transformation is classified right (certify.rows.all_samples_correct).
ALL_CORRECT_COLUMN = "all_correct_composite_L2"
COLUMNS = (
    "run", "method", "variant", "dataset", "arch", "width_multiplier",
    "granularity", "target_sparsity", "sparsity", "sparsity_whole_model",
    "test_accuracy",
    "validation_accuracy", "seed", "cert_images", "cert_eps",
    *[f"{kind}_{family}_{level}" for family, level in CERTIFICATES
      for kind in ("pca", "clean_accuracy", "empirical_accuracy")],
    BINOMIAL_COLUMN, ALL_CORRECT_COLUMN, "objective",
    "mask_binary_test_accuracy", "mask_binary_validation_accuracy",
    "mask_mean", "mask_moved", "magnitude_overlap", "cert_split",
    "parameters", "flops_reduction", "tflite_latency_ms_dense",
    "tflite_latency_ms", "tflite_speedup",
    "wall_seconds", "cpu_seconds", "stage_seconds", "commands", "machine",
    "pretrain_wall_seconds", "pretrain_shared_from")


def result_row(run_dir: str, name: str) -> Optional[Dict[str, object]]:
  """The results.csv row of one finished run, or None if unfinished."""
  spec = atomic_io.read_json(os.path.join(run_dir, EXPERIMENT_FILE))
  report = atomic_io.read_json(os.path.join(run_dir, "report.json"))
  if not spec or not report or not spec.get("complete"):
    return None
  flags, stages = report["flags"], report["stages"]
  dense = spec["method"] in experiment_suites.DENSE_METHODS
  trained = stages["pretrain" if dense else "finetune"]
  pretrain = stages.get("pretrain", {})
  row = {
      "run": name, "method": spec["method"], "variant": spec["variant"],
      "dataset": flags["dataset"], "arch": flags["arch"],
      "width_multiplier": flags["width_multiplier"],
      "granularity": "dense" if dense else flags["granularity"],
      "target_sparsity": 0.0 if dense else spec["sparsity"],
      "sparsity": 0.0 if dense else trained["sparsity"],
      # PROTOCOL v2 keeps the first conv and the classifier whole, so the
      # whole model is a little less sparse than the pruned layers.
      "sparsity_whole_model": 0.0 if dense else trained.get(
          "sparsity_whole_model", ""),
      "test_accuracy": trained["test_accuracy"],
      "validation_accuracy": trained["validation_accuracy"],
      "seed": spec["seed"], "cert_eps": flags["cert_eps"],
      "wall_seconds": round(sum(c["seconds"] for c in spec["commands"]), 1),
      "cpu_seconds": _cpu_seconds(spec["commands"]),
      "machine": " + ".join(sorted({c["machine"] for c in spec["commands"]
                                    if "machine" in c})),
      "stage_seconds": stage_seconds(stages, shared_pretrain=not dense),
      "commands": len(spec["commands"]),
      "pretrain_wall_seconds": pretrain.get("wall_seconds", ""),
      "pretrain_shared_from": spec.get("pretrain_from", ""),
  }
  searched = stages.get("mask", {})
  if "binary_test_accuracy" in searched:  # the masks before fine-tuning
    row["mask_binary_test_accuracy"] = searched["binary_test_accuracy"]
    row["mask_binary_validation_accuracy"] = searched.get(
        "binary_validation_accuracy", "")
    row["mask_mean"] = searched.get("mask_mean", "")
    row["mask_moved"] = searched.get("mask_moved", "")
    row["magnitude_overlap"] = searched.get("magnitude_overlap", "")
  row["cert_split"] = flags.get("cert_split", "test")
  if "parameters_pruned" in trained:
    row["parameters"] = trained["parameters_pruned"]
    row["flops_reduction"] = trained["flops_dense"] / trained["flops_pruned"]
  compared = stages.get("export", {}).get("dense_vs_pruned")
  if compared:
    row["tflite_latency_ms_dense"] = compared["float32"]["latency_ms_dense"]
    row["tflite_latency_ms"] = compared["float32"]["latency_ms_pruned"]
    row["tflite_speedup"] = compared["float32"]["speedup"]
  model = "dense" if dense else "pruned"
  certified = stages.get("certify", {})
  for family, level in CERTIFICATES:
    result = certified.get(f"{model}_{family}_{level}")
    if result:
      row[f"pca_{family}_{level}"] = result[f"pca@{flags['cert_eps']:g}"]
      row[f"clean_accuracy_{family}_{level}"] = result["clean_accuracy"]
      empirical = result.get("empirical_accuracy")
      row[f"empirical_accuracy_{family}_{level}"] = (
          "" if empirical is None else empirical)
      row["cert_images"] = result["images"]
  headline_csv = certify_resume.certificate_csv(
      os.path.join(run_dir, "certify"), model, *HEADLINE_FAMILY)
  if os.path.exists(headline_csv):  # older reports lack the figure
    share = csv_rows.all_samples_correct(csv_rows.read_rows(headline_csv))
    row[ALL_CORRECT_COLUMN] = "" if math.isnan(share) else share
  row["objective"] = trained.get("objective", "ce")
  binomial = certified.get(certify_resume.certificate_key(
      model, *HEADLINE_FAMILY, "binomial"))
  if binomial:
    row[BINOMIAL_COLUMN] = binomial[f"pca@{flags['cert_eps']:g}"]
  return {column: row.get(column, "") for column in COLUMNS}


def _cpu_seconds(commands):
  """The commands' CPU seconds; empty for runs made before the runner
  measured them."""
  if not all("cpu_seconds" in c for c in commands):
    return ""
  return round(sum(c["cpu_seconds"] for c in commands), 1)


def machine_of(row) -> str:
  """The row's machine label; rows of runs made before the runner recorded
  it (or CSVs without the column, v1's) say so."""
  return row.get("machine") or "machine not recorded"


def machine_keys(rows) -> Dict[str, str]:
  """{machine label: 'A', ...} when the rows' runs were made on several
  machines (a suite restored from records may span several, and their
  timings are not comparable); {} when on one."""
  labels = sorted({machine_of(r) for r in rows})
  if len(labels) < 2:
    return {}
  return {label: chr(ord("A") + i) if i < 26 else str(i)
          for i, label in enumerate(labels)}


def machine_counts(rows) -> str:
  """'AMD EPYC, 2 cores, AVX2, no AVX-512 (20 runs)', or with several
  machines 'machine A: AMD EPYC, 2 cores, AVX-512 (3 runs); machine B:
  ...' (the keys the wall-time cells name)."""
  counts = collections.Counter(machine_of(r) for r in rows)
  keys = machine_keys(rows)
  return "; ".join(
      f"{'machine ' + keys[label] + ': ' if keys else ''}{label} "
      f"({n} run{'s' if n != 1 else ''})"
      for label, n in sorted(counts.items()))


def write_csv(path: str, rows: Sequence[Dict[str, object]]) -> None:
  """results.csv, written atomically."""

  def write(tmp):
    with open(tmp, "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=COLUMNS)
      writer.writeheader()
      writer.writerows(rows)

  atomic_io.write_atomically(path, write, suffix=".csv")


def mean_spread(values: Sequence[float], scale: float = 100.0,
                digits: int = 1) -> str:
  """'92.3' for one value, '92.3 ± 0.4' (sample sd) for several."""
  values = [float(v) * scale for v in values if v != ""]
  if not values:
    return "-"
  mean = statistics.fmean(values)
  if len(values) == 1:
    return f"{mean:.{digits}f}"
  return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _group(rows, **match):
  return [r for r in rows if all(
      (math.isclose(float(r[k]), v) if isinstance(v, float) else r[k] == v)
      for k, v in match.items())]


def _cell(rows, column, scale=100.0):
  return mean_spread([r[column] for r in rows], scale)


def _minutes_unit(keys: Dict[str, str]) -> str:
  """The wall-time column's unit: 'min, CPU', and which machine when the
  rows span several (`machine_keys`)."""
  return "min, CPU, machine" if keys else "min, CPU"


def _minutes(rows, keys: Dict[str, str]) -> str:
  """Wall minutes per run; with several machines (`keys`), one mean per
  machine, e.g. '93.5 (B); 6.2 (A)': a mean over machines is no timing."""
  if not keys:
    return mean_spread([r["wall_seconds"] for r in rows], 1 / 60.0)
  by_machine = collections.defaultdict(list)
  for r in rows:
    by_machine[keys[machine_of(r)]].append(r["wall_seconds"])
  return "; ".join(f"{mean_spread(seconds, 1 / 60.0)} ({key})"
                   for key, seconds in sorted(by_machine.items()))


def main_tables(rows: Sequence[Dict[str, object]],
                methods: Sequence[str], sparsities: Sequence[float]) -> str:
  """Accuracy and PCA per method at each sparsity, then the extra families
  at the sparsity where they were certified."""
  pca, emp = (f"{kind}_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
              for kind in ("pca", "empirical_accuracy"))
  dense = _group(rows, method="dense")
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
      group = dense if label == "dense" else _label_rows(rows, label,
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


def _label_rows(rows, label, sparsity):
  """The rows of a table label: "csam" is the default variant,
  "csam-global" its labelled variant."""
  method, _, variant = label.partition("-")
  return _group(rows, method=method, variant=variant or "default",
                target_sparsity=sparsity)


def _seed_range(values):
  return (f"{min(values):.1f}" if len(values) == 1 else
          f"{min(values):.1f} - {max(values):.1f}")


def _ranges_overlap(ours, theirs) -> bool:
  """Whether the seed ranges [min, max] of two rows share a value."""
  return max(ours) >= min(theirs) and max(theirs) >= min(ours)


def _points(difference):
  """'+1.5', '-0.5', and '0.0' rather than '-0.0'."""
  text = f"{difference:+.1f}"
  return "0.0" if text in ("+0.0", "-0.0") else text


def certified_images(run_dir: str, row: Dict[str, object]) -> set:
  """Indices of the images the run's headline certificate certified (the
  first cert_images rows of its CSV)."""
  model = ("dense" if row["method"] in experiment_suites.DENSE_METHODS
           else "pruned")
  path = certify_resume.certificate_csv(os.path.join(run_dir, "certify"),
                                        model, *HEADLINE_FAMILY)
  rows = csv_rows.read_rows(path)[:int(row["cert_images"])]
  return {r["index"] for r in rows if r["certified"]}


def sign_test(wins: int, losses: int) -> float:
  """Exact two-sided sign test: the probability of a split at least this
  uneven if each discordant image were a fair coin."""
  n = wins + losses
  if n == 0:
    return 1.0
  tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1))
  return min(1.0, 2.0 * tail / 2 ** n)


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
      csam = {r["seed"]: r for r in _label_rows(rows, csam_label, sparsity)}
      magnitude = {r["seed"]: r for r in _label_rows(rows, magnitude_label,
                                                     sparsity)}
      seeds = sorted(set(csam) & set(magnitude), key=int)
      if not seeds:
        continue
      ours = [float(csam[s][pca]) * 100 for s in seeds]
      theirs = [float(magnitude[s][pca]) * 100 for s in seeds]
      overlap = ("-" if len(seeds) < 2 else  # (one seed has no range)
                 "yes" if _ranges_overlap(ours, theirs) else "no")
      differences = ", ".join(_points(a - b) for a, b in zip(ours, theirs))
      accuracy = ", ".join(_points(100 * (
          float(csam[s]["test_accuracy"]) -
          float(magnitude[s]["test_accuracy"]))) for s in seeds)
      binary = _cell([csam[s] for s in seeds], "mask_binary_test_accuracy")
      only = "" if root is None else ", ".join(
          _discordant(root, csam[s], magnitude[s]) for s in seeds)
      out.append(f"| {sparsity:.0%} | {allocation} | {len(seeds)} | "
                 f"{_seed_range(ours)} | {_seed_range(theirs)} | "
                 f"{overlap} | {differences} | {only} | "
                 f"{accuracy} | {binary} |")
  return "\n".join(out + [""])


V3_ROW_TEXT = {  # what each v3 row is, for readers
    "dense": ("CE", "none (dense)", "-"),
    "dense_robust": ("robust", "none (dense)", "-"),
    "magnitude": ("CE", "tfmot gradual magnitude, layer-wise", "CE"),
    "magnitude-global_robust": ("CE", "tfmot gradual magnitude, global",
                                "robust"),
    "csam-global_robust": ("CE", "C-SAM, global", "robust"),
    "magnitude-full": ("robust", "tfmot gradual magnitude, global",
                       "robust"),
    "csam-full": ("robust", "C-SAM, global", "robust"),
}


def _cpu_minutes(rows) -> str:
  """CPU minutes per run (user + system of the run's own commands; the
  shared dense model's training not counted)."""
  return mean_spread([r["cpu_seconds"] for r in rows], 1 / 60.0)


def v3_tables(rows, labels: Sequence[str], sparsities: Sequence[float]
              ) -> str:
  """The v3 main suite: the dense models, then one table per sparsity
  with every row's dense model, masks and fine-tuning objective, test
  accuracy, PCA by CC-Cert and by the binomial bound, and PCA's ceiling
  (all samples correct)."""
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  columns = ("| test acc. (%) | PCA@1e-3 composite L2, CC-Cert (%) | "
             "PCA, binomial (%) | all samples correct (%) |")
  out = ["### Dense models", "",
         "| dense model | seeds " + columns + " CPU min per run |",
         "|---|---|---|---|---|---|---|"]
  for label in ("dense", "dense_robust"):
    group = _group(rows, method=label)
    if group:
      out.append(f"| {label} ({V3_ROW_TEXT[label][0]}) | {len(group)} | "
                 f"{_cell(group, 'test_accuracy')} | {_cell(group, pca)} | "
                 f"{_cell(group, BINOMIAL_COLUMN)} | "
                 f"{_cell(group, ALL_CORRECT_COLUMN)} | "
                 f"{_cpu_minutes(group)} |")
  out.append("")
  for sparsity in sparsities:
    table = [f"### {sparsity:.0%} unstructured sparsity", "",
             "| row | dense model | masks | fine-tuning | seeds | measured "
             "sparsity, pruned layers (whole model) " + columns +
             " binary masks before fine-tuning, test acc. (%) | CPU min "
             "per run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label in labels:
      group = _label_rows(rows, label, sparsity)
      if not group:
        continue
      source, masks, objective = V3_ROW_TEXT[label]
      table.append(
          f"| {label} | {source} | {masks} | {objective} | {len(group)} | "
          f"{_sparsity(group)} | {_cell(group, 'test_accuracy')} | "
          f"{_cell(group, pca)} | {_cell(group, BINOMIAL_COLUMN)} | "
          f"{_cell(group, ALL_CORRECT_COLUMN)} | "
          f"{_cell(group, 'mask_binary_test_accuracy')} | "
          f"{_cpu_minutes(group)} |")
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
      a = {r["seed"]: r for r in _label_rows(rows, a_label, sparsity)}
      b = {r["seed"]: r for r in _label_rows(rows, b_label, sparsity)}
      seeds = sorted(set(a) & set(b), key=int)
      if not seeds:
        continue
      ours = [float(a[s][pca]) * 100 for s in seeds]
      theirs = [float(b[s][pca]) * 100 for s in seeds]
      apart = ("-" if len(seeds) < 2 else
               "no" if _ranges_overlap(ours, theirs) else "yes")

      def differences(column, scale=100.0):
        return ", ".join(
            "-" if "" in (a[s][column], b[s][column]) else
            _points(scale * (float(a[s][column]) - float(b[s][column])))
            for s in seeds)

      cpu = [(a[s]["cpu_seconds"], b[s]["cpu_seconds"]) for s in seeds]
      cpu = [float(x) / float(y) for x, y in cpu if x != "" and y != ""]
      ratio = f"{statistics.fmean(cpu):.2f}x" if cpu else "-"
      out.append(f"| {sparsity:.0%} | {a_label} | {b_label} | {len(seeds)} "
                 f"| {_seed_range(ours)} | {_seed_range(theirs)} | {apart} | "
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
    group = _group(rows, method="dense") if method == "dense" else _group(
        rows, method=method, variant="default", target_sparsity=sparsity)
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
  default = _group(rows, method="csam", variant="default",
                   target_sparsity=sparsity)
  base = float(default[0][pca]) * 100 if default else None
  for variant, flags in variants.items():
    group = _group(rows, method="csam", variant=variant,
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
    group = _group(rows, method=method, variant=variant,
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
                    sparsity: float) -> str:
  """The objective sweep: one row per fine-tuning objective of the same
  masks (tfmot's global gradual magnitude pruning), validation numbers
  only, PCA beside its ceiling and its rigorous companion."""
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  keys = machine_keys(rows)
  out = [f"### Fine-tuning objective sweep, {sparsity:.0%} global "
         "magnitude pruning (validation split)", "",
         "| objective | flags | validation acc. (%) | validation PCA@1e-3 "
         "composite L2, CC-Cert (%) | binomial PCA (%) | all samples correct "
         "(%) | empirical acc. (%) | wall time "
         f"({_minutes_unit(keys)}) | CPU time vs CE |",
         "|---|---|---|---|---|---|---|---|---|"]
  dense = _group(rows, method="dense")
  if dense:
    out.append(f"| dense (not pruned) | - | "
               f"{_cell(dense, 'validation_accuracy')} | {_cell(dense, pca)} "
               f"| {_cell(dense, BINOMIAL_COLUMN)} | "
               f"{_cell(dense, ALL_CORRECT_COLUMN)} | "
               f"{_cell(dense, 'empirical_accuracy_composite_L2')} | "
               f"{_minutes(dense, keys)} | |")
  base = _group(rows, method="magnitude", variant=next(iter(variants)),
                target_sparsity=sparsity)
  base_cpu = float(base[0]["cpu_seconds"] or 0) if base else 0.0
  for variant, flags in variants.items():
    group = _group(rows, method="magnitude", variant=variant,
                   target_sparsity=sparsity)
    if not group:
      continue
    change = ", ".join(f"--{k}={v}" for k, v in flags.items()) or (
        "(cross-entropy)")
    cpu = float(group[0]["cpu_seconds"] or 0)
    ratio = f"{cpu / base_cpu:.2f}x" if base_cpu and cpu else "-"
    out.append(f"| {variant} | {change} | "
               f"{_cell(group, 'validation_accuracy')} | {_cell(group, pca)} "
               f"| {_cell(group, BINOMIAL_COLUMN)} | "
               f"{_cell(group, ALL_CORRECT_COLUMN)} | "
               f"{_cell(group, 'empirical_accuracy_composite_L2')} | "
               f"{_minutes(group, keys)} | {ratio} |")
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
    group = _group(rows, method="dense") if method == "dense" else _group(
        rows, method=method, variant="default", target_sparsity=sparsity)
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


def plot_pca_vs_sparsity(rows, methods: Sequence[str],
                         sparsities: Sequence[float], path: str) -> bool:
  """PCA@1e-3 (composite L2) and test accuracy against sparsity, mean and
  sd over seeds, dense as a line; False when nothing to plot."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  pca = f"pca_{HEADLINE_FAMILY[0]}_{HEADLINE_FAMILY[1]}"
  figure, axes = plt.subplots(1, 2, figsize=(10, 4))
  plotted = False
  for ax, column, title in ((axes[0], pca, "PCA@1e-3, composite L2 (%)"),
                            (axes[1], "test_accuracy", "test accuracy (%)")):
    dense = [float(r[column]) * 100 for r in _group(rows, method="dense")
             if r[column] != ""]
    if dense:
      ax.axhline(statistics.fmean(dense), color="gray", linestyle="--",
                 label=f"dense (n={len(dense)})")
    for method in methods:
      xs, means, sds = [], [], []
      for sparsity in sparsities:
        values = [float(r[column]) * 100 for r in _group(
            rows, method=method, variant="default", target_sparsity=sparsity)
                  if r[column] != ""]
        if values:
          xs.append(sparsity * 100)
          means.append(statistics.fmean(values))
          sds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
      if xs:
        plotted = True
        ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3,
                    label=method)
    ax.set_xlabel("unstructured sparsity (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  figure.tight_layout()
  if plotted:
    atomic_io.write_atomically(path, lambda tmp: figure.savefig(
        tmp, dpi=100, format="png"), suffix=".png")
  plt.close(figure)
  return plotted


def update_section(path: str, marker: str, section: str) -> None:
  """Rewrites the `marker` section of the Markdown file at `path`
  (created when missing), atomically."""
  document = ""
  if os.path.exists(path):
    with open(path) as f:
      document = f.read()
  document = replace_section(document, marker, section)
  atomic_io.write_atomically(path, lambda tmp: open(tmp, "w").write(document),
                             suffix=".md")


def replace_section(document: str, marker: str, section: str) -> str:
  """`document` with the text between the marker comments replaced by
  `section` (appended with its markers when absent)."""
  begin, end = f"<!-- BEGIN {marker} -->", f"<!-- END {marker} -->"
  block = f"{begin}\n{section.rstrip()}\n{end}"
  if begin in document and end in document:
    head, rest = document.split(begin, 1)
    return head + block + rest.split(end, 1)[1]
  return document.rstrip() + "\n\n" + block + "\n"


def stage_seconds(stages, shared_pretrain: bool) -> float:
  """The run's own compute: the wall time each stage recorded (summed
  over resumptions, so an interrupted run is not undercounted the way its
  command times are) and every certificate's; a shared pre-training (copied
  from the dense run) is not counted again."""
  total = 0.0
  for name, stage in stages.items():
    if name == "certify":
      total += sum(c.get("seconds_this_invocation", 0.0)
                   for c in stage.values() if isinstance(c, dict))
    elif not (name == "pretrain" and shared_pretrain):
      total += stage.get("wall_seconds", 0.0)
  return round(total, 1)


def suite_hours(rows) -> float:
  """Hours of stage compute over the rows (see `stage_seconds`)."""
  return sum(float(r["stage_seconds"] or 0.0) for r in rows) / 3600.0


def startup_seconds(rows) -> float:
  """Median seconds per command spent outside the stages (process start,
  imports, data loading), over the runs whose commands all completed
  (an interrupted command's time is not in `wall_seconds`)."""
  per_command = [(float(r["wall_seconds"]) - float(r["stage_seconds"])) /
                 int(r["commands"]) for r in rows
                 if r["commands"] and
                 float(r["wall_seconds"]) >= float(r["stage_seconds"])]
  return statistics.median(per_command) if per_command else 0.0


def collect_rows(root: str, names: Sequence[str]) -> List[Dict[str, object]]:
  """Rows of the finished runs among `names` under `root`."""
  rows = []
  for name in names:
    row = result_row(os.path.join(root, name), name)
    if row is not None:
      rows.append(row)
  return rows
