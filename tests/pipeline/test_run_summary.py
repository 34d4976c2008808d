"""`python -m csam_tf.summary`: the table is report.json's numbers; bad
input is one line and exit 2."""

import json
import os
import subprocess
import sys

from conftest import REPO


def _run(*args):
  return subprocess.run([sys.executable, "-m", "csam_tf.summary", *args],
                        cwd=REPO, capture_output=True, text=True, timeout=60)


def test_summary_reads_the_report(tmp_path):
  report = {"flags": {"arch": "resnet18", "width_multiplier": 0.25,
                      "dataset": "fashion_mnist", "seed": 0,
                      "cert_eps": 0.001, "robust_lambda": 5.0,
                      "robust_views": 1, "robust_clean_view": True},
            "stages": {
                "pretrain": {"test_accuracy": 0.9242, "objective": "ce"},
                "finetune": {"test_accuracy": 0.9228, "sparsity": 0.5,
                             "objective": "robust",
                             "sparsity_whole_model": 0.4959},
                "export": {"float32": {"bytes": 2_867_200,
                                       "median_latency_ms_1_image": 0.812},
                           "int8": {"bytes": 765_952,
                                    "median_latency_ms_1_image": 0.301},
                           "sparse": {"bytes": 1_798_412,
                                      "median_latency_ms_1_image": 0.91},
                           "dense_vs_pruned": {
                               "float32": {"bytes_dense": 2_867_200,
                                           "latency_ms_dense": 0.815},
                               "int8": {"bytes_dense": 765_952,
                                        "latency_ms_dense": 0.305}}},
                "certify": {"dense_composite_L2": {"pca@0.001": 0.44,
                                                   "images": 100},
                            "pruned_composite_L2": {"pca@0.001": 0.42,
                                                    "images": 100}}}}
  (tmp_path / "report.json").write_text(json.dumps(report))
  result = _run(f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stderr
  lines = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
  assert "92.42%" in lines["test accuracy"] and \
      "92.28%" in lines["test accuracy"]
  assert "50.00% / 49.59%" in lines["sparsity (pruned layers / whole model)"]
  assert "44.00%" in lines["PCA@0.001 composite L2"] and \
      "42.00%" in lines["PCA@0.001 composite L2"]
  assert "2,800 KB, 0.815 ms" in lines[".tflite float32"]
  assert "748 KB, 0.301 ms" in lines[".tflite int8"]
  assert lines[".tflite sparse-encoded float32"].split()[-5:] == [
      "-", "1,756", "KB,", "0.910", "ms"]
  assert "first 100 test images" in result.stdout
  # what each model's weights were trained on (the demo's choice here)
  assert " ".join(lines["trained on"].split()) == \
      "trained on cross-entropy robust, lambda 5, 2 views"


def test_trained_on_reads_the_stages_own_settings(tmp_path):
  """A dense model shared from another run (a suite's pruning rows) was
  trained with that run's settings: the stage's record wins over this
  run's flags."""
  report = {"flags": {"robust_lambda": 5.0, "robust_views": 1,
                      "robust_clean_view": True},
            "stages": {
                "pretrain": {"test_accuracy": 0.9, "objective": "robust",
                             "robust": {"weight": 10.0, "views": 2,
                                        "clean_view": True}},
                "finetune": {"test_accuracy": 0.89, "sparsity": 0.9,
                             "objective": "robust",
                             "robust": {"weight": 2.0, "views": 2,
                                        "clean_view": False}}}}
  (tmp_path / "report.json").write_text(json.dumps(report))
  result = _run(f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stderr
  line = next(l for l in result.stdout.splitlines()
              if l.startswith("trained on"))
  assert " ".join(line.split()) == (
      "trained on robust, lambda 10, 3 views robust, lambda 2, 2 views")


def test_a_folder_without_a_report_is_one_line(tmp_path):
  result = _run(f"--workdir={tmp_path}")
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      f"csam_tf.summary: error: --workdir={tmp_path} holds no csam_tf.train "
      f"report (report.json): run csam_tf.train on it first"]


def test_the_tfmot_baseline_is_a_column_and_a_sentence(tmp_path):
  """--tfmot_baseline's run (tfmot_baseline/report.json) is the third
  column, and the points the run gained or lost against it are said."""
  def report(pruning, objective, accuracy, pca):
    flags = {"cert_eps": 0.001, "granularity": "unstructured",
             "mask_method": "csam", "binarize": "auto",
             "finetune_pruning": pruning}
    if pruning == "polynomial_decay":
      flags["binarize"] = "layerwise"
    return {"flags": flags, "stages": {
        "pretrain": {"test_accuracy": 0.9029, "objective": "ce"},
        "finetune": {"test_accuracy": accuracy, "sparsity": 0.5,
                     "sparsity_whole_model": 0.4959, "objective": objective,
                     "robust": {"weight": 5.0, "views": 1,
                                "clean_view": True}},
        "certify": {"pruned_composite_L2": {"pca@0.001": pca,
                                            "images": 50}}}}
  ours = report("fixed_masks", "robust", 0.873, 0.34)
  ours["stages"]["certify"]["dense_composite_L2"] = {"pca@0.001": 0.24,
                                                     "images": 50}
  (tmp_path / "report.json").write_text(json.dumps(ours))
  result = _run(f"--workdir={tmp_path}")
  assert "tfmot as users run it" not in result.stdout   # not made yet
  (tmp_path / "tfmot_baseline").mkdir()
  (tmp_path / "tfmot_baseline" / "report.json").write_text(json.dumps(
      report("polynomial_decay", "ce", 0.8984, 0.18)))
  result = _run(f"--workdir={tmp_path}")
  assert result.returncode == 0, result.stderr
  lines = {line.split("  ")[0]: " ".join(line.split())
           for line in result.stdout.splitlines()}
  assert lines["pruned by"] == ("pruned by - C-SAM masks, global tfmot "
                                "gradual magnitude, layer-wise")
  assert lines["trained on"] == ("trained on cross-entropy robust, lambda "
                                 "5, 2 views cross-entropy")
  assert lines["test accuracy"] == "test accuracy 90.29% 87.30% 89.84%"
  assert lines["PCA@0.001 composite L2"] == (
      "PCA@0.001 composite L2 24.00% 34.00% 18.00%")
  assert ("Against tfmot as users run it (the same dense model, tfmot's "
          "layer-wise gradual magnitude pruning, cross-entropy fine-tuning "
          "for the same steps): PCA@0.001 composite L2 +16.00 points, test "
          "accuracy -2.54 points.") in result.stdout
  assert "tfmot baseline" in result.stdout
