"""A run's record: exactly the files the tables read (and a dense run's
model), saved whole, restored byte for byte; unfinished runs are no
record."""

import os

import pytest

from csam_tf.core import atomic_io
from csam_tf.experiments import records


def _write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(text)


def _run(root, method, complete=True):
  """A run workdir with what a finished run leaves behind."""
  run_dir = os.path.join(root, "run")
  atomic_io.write_json(os.path.join(run_dir, "experiment.json"),
                       {"method": method, "complete": complete})
  _write(os.path.join(run_dir, "report.json"), "{}\n")
  _write(os.path.join(run_dir, "run.cfg"), "--seed=0\n")
  _write(os.path.join(run_dir, "run.log"), "long log\n")
  for key in ("pruned_composite_L2", "pruned_composite_L2.shard0of2"):
    _write(os.path.join(run_dir, "certify", key + ".csv"), "image,x\n0,1\n")
    _write(os.path.join(run_dir, "certify", key + ".csv.settings.json"), "{}")
  _write(os.path.join(run_dir, "certify", "pca_vs_eps.png"), "png")
  _write(os.path.join(run_dir, "pretrain", "best.weights.h5"), "weights")
  _write(os.path.join(run_dir, "pretrain", "model.keras"), "model")
  _write(os.path.join(run_dir, "finetune", "model.keras"), "pruned model")
  return run_dir


def test_record_holds_what_the_tables_read(tmp_path):
  run_dir = _run(str(tmp_path), "csam")
  assert sorted(records.record_files(run_dir, "csam")) == sorted([
      "experiment.json", "report.json", "run.cfg",
      "certify/pruned_composite_L2.csv",
      "certify/pruned_composite_L2.csv.settings.json"])
  # a dense run's weights too (the suite's other runs start from them),
  # once: not model.keras, the same weights again
  assert sorted(records.record_files(run_dir, "dense")) == sorted([
      "experiment.json", "report.json", "run.cfg",
      "certify/pruned_composite_L2.csv",
      "certify/pruned_composite_L2.csv.settings.json",
      "pretrain/best.weights.h5"])


def test_save_replaces_the_record_and_restore_copies_it_back(tmp_path):
  run_dir = _run(str(tmp_path), "dense")
  record_dir = str(tmp_path / "records" / "dense" / "seed0")
  _write(os.path.join(record_dir, "certify", "stale.csv"), "old")
  saved = records.save(run_dir, record_dir, "dense")
  on_disk = sorted(os.path.relpath(os.path.join(d, n), record_dir)
                   for d, _, names in os.walk(record_dir) for n in names)
  assert on_disk == sorted(saved)  # the stale file went with the old record
  assert records.seen_through(record_dir)

  new_dir = str(tmp_path / "new_machine" / "dense" / "seed0")
  restored = records.restore(record_dir, new_dir)
  assert sorted(restored) == sorted(saved)
  assert restored[-1] == "experiment.json"  # last: the run is finished
  for relative in saved:
    with open(os.path.join(run_dir, relative), "rb") as a, \
        open(os.path.join(new_dir, relative), "rb") as b:
      assert a.read() == b.read(), relative


def test_unfinished_run_is_no_record(tmp_path):
  run_dir = _run(str(tmp_path), "csam", complete=False)
  record_dir = str(tmp_path / "record")
  assert not records.seen_through(record_dir)  # none at all
  records.save(run_dir, record_dir, "csam")
  assert not records.seen_through(record_dir)


def test_the_benchmark_records_are_not_ignored_by_git():
  """tools/run_benchmarks.sh's records folder is committed, not ignored
  (.gitignore's `runs/` ignores every folder of that name)."""
  import re  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  from conftest import REPO  # pylint: disable=import-outside-toplevel
  if not os.path.isdir(os.path.join(REPO, ".git")):
    pytest.skip("not a git checkout")
  script = open(os.path.join(REPO, "tools", "run_benchmarks.sh")).read()
  folder = re.search(r"RECORDS=\$\{RECORDS:-([^}]+)\}", script).group(1)
  for relative in ("dense/seed0/pretrain/best.weights.h5",
                   "csam/sp90/seed0/certify/pruned_composite_L2.csv",
                   "csam/sp90/seed0/experiment.json"):
    checked = subprocess.run(["git", "check-ignore", "-q",
                              os.path.join(folder, relative)], cwd=REPO)
    assert checked.returncode == 1, f"{folder}/{relative} is ignored by git"
