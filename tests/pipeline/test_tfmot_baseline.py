"""--tfmot_baseline: tfmot as users run it from the run's own dense model,
certified the same way, and the summary's comparison."""

import json
import os

import numpy as np
import pytest

from conftest import BENCH_TINY, copy_pretrained_workdir, run_cli

SPARSITY = 0.5


def _report(workdir):
  with open(os.path.join(workdir, "report.json")) as f:
    return json.load(f)


@pytest.mark.heavy(40)
def test_the_baseline_prunes_the_same_dense_model_as_tfmot_users_do(
    tmp_path, tiny_dense_workdir):
  workdir = copy_pretrained_workdir(tiny_dense_workdir, str(tmp_path / "run"))
  flags = [f"--workdir={workdir}", *BENCH_TINY,
           "--stages=mask,finetune,certify", f"--sparsity={SPARSITY}",
           "--mask_steps_per_epoch=2", "--finetune_epochs=1",
           "--finetune_steps_per_epoch=4", "--finetune_objective=robust",
           "--cert_num_images=4",
           "--cert_nsamples=10", "--cert_nbounds=2", "--tfmot_baseline"]
  result = run_cli(*flags)
  assert result.returncode == 0, result.stderr[-3000:]
  baseline = os.path.join(workdir, "tfmot_baseline")
  # the run's dense weights, bit for bit (shared, not trained again)
  with open(os.path.join(workdir, "pretrain/best.weights.h5"), "rb") as a, \
      open(os.path.join(baseline, "pretrain/best.weights.h5"), "rb") as b:
    assert a.read() == b.read()
  report = _report(baseline)
  stages = report["stages"]
  assert stages["pretrain"]["shared_from"] == workdir
  assert (report["flags"]["finetune_pruning"], report["flags"]["binarize"],
          report["flags"]["finetune_objective"]) == (
              "polynomial_decay", "layerwise", "ce")
  finetune = stages["finetune"]
  assert finetune["objective"] == "ce"
  # tfmot's per-layer targets: every pruned layer at the sparsity (within
  # one weight), where the run's global masks spread it unevenly
  per_layer = finetune["sparsity_per_layer"]
  assert per_layer and all(abs(v - SPARSITY) < 0.01
                           for v in per_layer.values())
  ours = _report(workdir)["stages"]
  assert ours["finetune"]["objective"] == "robust"
  assert max(ours["finetune"]["sparsity_per_layer"].values()) - min(
      ours["finetune"]["sparsity_per_layer"].values()) > 0.05
  # the same certificate, on the pruned model only
  certified = {k for k, v in stages["certify"].items() if isinstance(v, dict)}
  assert certified == {"pruned_composite_L2"}
  assert stages["certify"]["pruned_composite_L2"]["images"] == 4
  # the summary compares, with the points computed from the two reports
  summary = result.stdout[result.stdout.index("Summary of"):]
  header = summary.splitlines()[2]
  assert header.split() == ["dense", "pruned", "tfmot", "as", "users", "run",
                            "it"]
  pca = [100 * r["certify"]["pruned_composite_L2"]["pca@0.001"]
         for r in (ours, stages)]
  accuracy = [100 * r["finetune"]["test_accuracy"] for r in (ours, stages)]
  assert (f"PCA@0.001 composite L2 {round(pca[0], 2) - round(pca[1], 2):+.2f}"
          f" points, test accuracy "
          f"{round(accuracy[0], 2) - round(accuracy[1], 2):+.2f} points."
          ) in summary
  line = next(l for l in summary.splitlines() if l.startswith("pruned by"))
  assert " ".join(line.split()) == (
      "pruned by - C-SAM masks, global tfmot gradual magnitude, layer-wise")
  # run again: everything finished earlier, the baseline too
  again = run_cli(*flags)
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count("finished earlier") == 3 + 2
  np.testing.assert_equal(_report(baseline)["stages"]["finetune"],
                          finetune)


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
