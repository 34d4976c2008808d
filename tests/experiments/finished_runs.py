"""A finished (or unfinished) suite run on disk, as the runner leaves it:
report.json and experiment.json with the numbers a test chooses. Shared by
the tests of experiments/rows.py and experiments/tables.py."""

import os

from csam_tf.core import atomic_io
from csam_tf.experiments import rows as experiment_rows


def write_run(root, name, method, sparsity, seed, test_accuracy, pca,
               measured=None, complete=True, extra=False, cpu=None,
               machine=None, whole_model=None,
               command_seconds=(100.0, 20.0)):
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
  commands = [{"seconds": seconds} for seconds in command_seconds]
  for command, seconds in zip(commands, cpu or ()):  # the runner's, per
    command["cpu_seconds"] = seconds                 # command (newer runs)
  if machine:
    for command in commands:
      command["machine"] = machine
  atomic_io.write_json(os.path.join(run_dir, experiment_rows.EXPERIMENT_FILE), {
      "method": method, "variant": "default", "sparsity": sparsity,
      "seed": seed, "pretrain_from": "" if dense else f"dense/seed{seed}",
      "commands": commands, "complete": complete})
  return run_dir
