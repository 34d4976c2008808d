"""`python -m csam_tf.experiments` on a tiny flagfile: runs the selected
runs once, skips them the second time, writes results.csv and splices its
section into the Markdown file; bad input is one line and exit 2."""

import csv
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import REPO, TINY_NETWORK

TINY = "\n".join(["--dataset=fashion_mnist", *TINY_NETWORK]) + """
--batch_size=64
--train_subset=256
--eval_subset=128
--pretrain_epochs=1
--mask_steps_per_epoch=2
--finetune_epochs=1
--cert_num_images=4
--cert_nsamples=10
--cert_nbounds=2
--cert_eps=0.05
--pretrain_objective=ce
--finetune_objective=ce
--robust_lambda=5.0
--binarize=layerwise
--mask_lr=0.001
--ratio_clip=0.0
"""
# (the suites' baseline pins, as configs/bench_fashion_mnist.cfg has them)
# (eps 0.05: the binomial companion certificate needs 45 samples an image
# rather than eps 1e-3's 2,302)


def _experiments(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, "-m", "csam_tf.experiments", *args],
                        cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=900)


# The suites' tests share one dense run (trained and certified once per
# test process; `make test` keeps this module's tests in one process with
# --dist loadgroup) and copy it into their own roots.
pytestmark = [pytest.mark.xdist_group("experiments_cli"),
              pytest.mark.heavy(85)]


@pytest.fixture
def flagfile(tmp_path):
  path = tmp_path / "tiny.cfg"
  path.write_text(TINY)
  return str(path)


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory):
  """dense/seed0 of the tiny main suite: pre-trained and certified."""
  folder = tmp_path_factory.mktemp("dense_suite")
  path = folder / "tiny.cfg"
  path.write_text(TINY)
  root = folder / "bench"
  result = _experiments("--suite=main_v2", f"--flagfile={path}",
                        f"--workdir={root}", "--methods=dense", "--seeds=0",
                        "--benchmarks_md=", f"--figures_dir={folder / 'fig'}")
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  return root / "dense" / "seed0"


def _with_dense(root, dense_run):
  """A suite root that starts with the shared dense run."""
  shutil.copytree(dense_run, os.path.join(root, "dense", "seed0"))


def test_suite_runs_once_and_tabulates(tmp_path, flagfile, dense_run):
  root, markdown = str(tmp_path / "bench"), tmp_path / "BENCH.md"
  records_dir = tmp_path / "records"
  _with_dense(root, dense_run)
  markdown.write_text("# Benchmarks\n\nhand-written part\n")
  args = ["--suite=main_v2", f"--flagfile={flagfile}", f"--workdir={root}",
          "--methods=magnitude", "--sparsities=0.9", "--seeds=0",
          f"--benchmarks_md={markdown}", f"--figures_dir={tmp_path / 'fig'}",
          f"--records_dir={records_dir}"]
  first = _experiments(*args)
  assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
  with open(os.path.join(root, "results.csv")) as f:
    rows = {r["run"]: r for r in csv.DictReader(f)}
  assert set(rows) == {"dense/seed0", "magnitude/sp90/seed0"}
  assert float(rows["dense/seed0"]["sparsity"]) == 0.0
  row = rows["magnitude/sp90/seed0"]
  # measured from the stripped weights: layer-wise top-k within rounding
  assert float(row["sparsity"]) == pytest.approx(0.9, abs=2e-3)
  assert row["pretrain_shared_from"] == "dense/seed0"
  for family in ("composite_L2", "composite_L1", "brightness_L2",
                 "rotation_L2", "binomial_composite_L2"):
    assert row[f"pca_{family}"] != "", family
  assert row["cert_images"] == "4"
  # the three extra certificates in one certify process after training
  with open(os.path.join(root, "magnitude/sp90/seed0/experiment.json")) as f:
    spec = json.load(f)
  commands = [c["argv"] for c in spec["commands"]]
  assert [c[0] for c in commands] == ["csam_tf.train", "csam_tf.certify"]
  assert "--split=test" in commands[1]   # the train command's images
  # each command's own CPU time (the measure is tests/core/
  # test_child_usage's), at most its wall time on every core
  for command in spec["commands"]:
    assert 0.0 < command["cpu_seconds"] <= (command["seconds"] *
                                            os.cpu_count())
  assert float(row["cpu_seconds"]) == pytest.approx(
      sum(c["cpu_seconds"] for c in spec["commands"]), abs=0.11)
  assert [a for a in commands[1] if a.startswith("--certificate")] == [
      "--certificate=composite/L1/ccert/2",
      "--certificate=brightness,rotation/L2/ccert/2",
      "--certificate=composite/L2/binomial/5"]  # 45 samples: 5 x 10
  # each pruning run started from the very dense model of its seed
  with open(os.path.join(root, "dense/seed0/pretrain/best.weights.h5"),
            "rb") as f:
    dense_weights = f.read()
  with open(os.path.join(root,
                         "magnitude/sp90/seed0/pretrain/best.weights.h5"),
            "rb") as f:
    assert f.read() == dense_weights
  text = markdown.read_text()
  assert text.startswith("# Benchmarks\n\nhand-written part\n")
  assert "<!-- BEGIN experiments --suite=main_v2 -->" in text
  assert "| magnitude | 1 |" in text
  assert "own CPU time (user + system" in text and \
      "over the 2 of these runs that recorded it" in text
  assert os.path.exists(tmp_path / "fig" / "pca_vs_sparsity.png")
  # the run can be repeated by hand from its own flagfile
  assert "--finetune_pruning=polynomial_decay" in open(os.path.join(
      root, "magnitude/sp90/seed0/run.cfg")).read()

  again = _experiments(*args)
  assert again.returncode == 0, again.stderr[-2000:]
  assert again.stdout.count("finished earlier") == 2
  assert markdown.read_text().count("<!-- BEGIN experiments") == 1

  # the whole main suite's tables from what is on disk, running nothing
  tables = _experiments(*[a for a in args if not a.startswith(
      ("--methods", "--sparsities", "--seeds"))], "--tables_only")
  assert tables.returncode == 0, tables.stderr[-2000:]
  assert "finished earlier" not in tables.stdout
  assert "done in" not in tables.stdout
  assert "2 of 51 planned runs finished" in markdown.read_text()
  assert "gets 1 fine-tuning epochs. Per-run numbers" in markdown.read_text()
  # v3's robust rows set their own budget, and its header says so
  v3_markdown, readme = tmp_path / "V3.md", tmp_path / "README.md"
  readme.write_text("# csam_tf\n\n<!-- BEGIN experiments --suite=main "
                    "headline -->\nold\n<!-- END experiments --suite=main "
                    "headline -->\n\nafter\n")
  v3 = _experiments("--suite=main", f"--flagfile={flagfile}",
                    f"--workdir={root}", f"--benchmarks_md={v3_markdown}",
                    f"--figures_dir={tmp_path / 'fig3'}", "--tables_only",
                    f"--readme_md={readme}")
  assert v3.returncode == 0, v3.stderr[-2000:]
  assert ("gets 1 fine-tuning epochs (csam-shipped, magnitude-shipped, "
          "magnitude-global_robust, csam-global_robust, magnitude-full, "
          "csam-full: 4). Per-run "
          "numbers") in v3_markdown.read_text()
  # README's headline: the rows the suite has so far (v2's dense model and
  # tfmot's 90% run are v3's rows too), between its markers
  headline = readme.read_text().splitlines()
  assert headline[:3] == ["# csam_tf", "",
                          "<!-- BEGIN experiments --suite=main headline -->"]
  assert headline[-2:] == ["", "after"]
  assert [line.split(" | ")[:3] for line in headline[5:-3]] == [
      ["| dense, cross-entropy (not pruned)", "0%", "1"],
      ["| tfmot as users run it", "90%", "1"]]
  _check_records_let_a_new_machine_go_on(args, root, records_dir, dense_run)


def _check_records_let_a_new_machine_go_on(args, root, records_dir,
                                           dense_run):
  """--records_dir: each finished run's record was saved; a workdir that
  lost everything (a new machine) gets the runs back and runs nothing."""
  root = pathlib.Path(root)
  recorded = {os.path.relpath(os.path.join(d, n), records_dir)
              for d, _, names in os.walk(records_dir) for n in names}
  certificates = [f"{key}.csv{suffix}" for key in (
      "composite_L2", "composite_L1", "brightness_L2", "rotation_L2",
      "composite_L2_binomial") for suffix in ("", ".settings.json")]
  assert recorded == {
      # the dense run finished before this command: saved at the start
      "dense/seed0/experiment.json", "dense/seed0/report.json",
      "dense/seed0/run.cfg", "dense/seed0/pretrain/best.weights.h5",
      *[f"dense/seed0/certify/dense_{c}" for c in certificates],
      "magnitude/sp90/seed0/experiment.json",
      "magnitude/sp90/seed0/report.json", "magnitude/sp90/seed0/run.cfg",
      *[f"magnitude/sp90/seed0/certify/pruned_{c}" for c in certificates]}
  spec = json.load(open(records_dir / "magnitude/sp90/seed0/experiment.json"))
  assert {c["machine"] for c in spec["commands"]} == {_machine_label()}
  with open(root / "results.csv") as f:
    before = list(csv.DictReader(f))
  assert {r["machine"] for r in before} == {_machine_label()}

  shutil.rmtree(root)  # the new machine has the records only
  again = _experiments(*args)
  assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
  assert again.stdout.count("restored from") == 2
  assert again.stdout.count("finished earlier") == 2
  assert "done in" not in again.stdout
  with open(root / "results.csv") as f:
    assert list(csv.DictReader(f)) == before
  with open(root / "dense/seed0/pretrain/best.weights.h5", "rb") as f:
    assert f.read() == open(
        dense_run / "pretrain/best.weights.h5", "rb").read()


def _machine_label():
  from csam_tf.core import machine
  return machine.machine_label()


@pytest.mark.parametrize("extra,message", [
    (["--methods=foo"], "--methods=foo: the main_v2 suite has dense, csam"),
    (["--seed=3"], "--seed is set per run by the suite"),
    (["--sparsities=half"], "--sparsities takes numbers"),
    (["--methods=csam", "--seeds=7"], "the selection leaves no run"),
    (["--records_dir=/proc/records"], "--records_dir=/proc/records is not "
     "writable"),
])
def test_bad_input_is_one_line(tmp_path, flagfile, extra, message):
  result = _experiments("--suite=main_v2", f"--flagfile={flagfile}",
                        f"--workdir={tmp_path / 'bench'}", *extra)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0], result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "bench")


def test_suite_is_required(tmp_path, flagfile):
  result = _experiments(f"--flagfile={flagfile}",
                        f"--workdir={tmp_path / 'bench'}")
  assert result.returncode == 2
  assert "--suite is required" in result.stderr


def _report_stage_complete(run_dir, stage):
  try:
    with open(os.path.join(run_dir, "report.json")) as f:
      return json.load(f)["stages"][stage].get("complete", False)
  except (OSError, KeyError, ValueError):
    return False


def test_a_failing_run_lets_the_others_go_on_and_a_killed_suite_resumes(
    tmp_path, flagfile, dense_run):
  # random and prune_then_sam at 50%: one-shot masks and no certificates
  # beyond composite L2, so no search to trace and one process a run
  root = tmp_path / "bench"
  _with_dense(root, dense_run)
  args = ["--suite=main_v2", f"--flagfile={flagfile}", f"--workdir={root}",
          "--methods=random,prune_then_sam", "--sparsities=0.5", "--seeds=0",
          "--benchmarks_md=", f"--figures_dir={tmp_path / 'fig'}"]
  # 1. random's copy of the dense weights is corrupt: that run fails, the
  #    run after it still runs, the command exits 1
  corrupt = root / "random/sp50/seed0/pretrain/best.weights.h5"
  corrupt.parent.mkdir(parents=True)
  corrupt.write_bytes(b"not an HDF5 file")
  first = _experiments(*args)
  assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
  assert "random/sp50/seed0: FAILED after" in first.stdout
  # the run's own error: one line naming the file, no traceback
  assert "best.weights.h5 (the output of stage pretrain) cannot be read" \
      in first.stdout
  assert "Traceback" not in (root / "random/sp50/seed0/run.log").read_text()
  assert "[3/3] prune_then_sam/sp50/seed0: done in" in first.stdout
  assert "1 run(s) failed: random/sp50/seed0" in first.stderr
  with open(root / "results.csv") as f:
    assert {r["run"] for r in csv.DictReader(f)} == {
        "dense/seed0", "prune_then_sam/sp50/seed0"}

  # 2. mended, the suite is killed (itself and its run: the process
  #    group, as a session's end kills it) once random's fine-tuning epoch
  #    is checkpointed, after its mask stage and before its certificate
  #    (core.fault_injection: the same place on every machine), then run
  #    again: it resumes random where it stopped
  corrupt.unlink()
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             CSAM_TF_SIGKILL_AT="group:finetune:epoch1")
  process = subprocess.run(
      [sys.executable, "-m", "csam_tf.experiments", *args], cwd=REPO,
      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
      start_new_session=True, timeout=600)
  assert process.returncode == -signal.SIGKILL
  run_dir = str(root / "random/sp50/seed0")
  assert _report_stage_complete(run_dir, "mask")
  assert not _report_stage_complete(run_dir, "certify")
  masks = (root / "random/sp50/seed0/mask/binary_masks.npz").read_bytes()
  second = _experiments(*args)
  assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
  assert second.stdout.count("finished earlier") == 2  # dense, prune_then_sam
  assert "[2/3] random/sp50/seed0: done in" in second.stdout
  log = open(os.path.join(run_dir, "run.log")).read()
  resumed = log[log.rindex("$ -m csam_tf.train"):]
  assert "mask: finished earlier (report.json); skipping" in resumed
  assert (root / "random/sp50/seed0/mask/binary_masks.npz").read_bytes() == \
      masks
  with open(root / "results.csv") as f:
    rows = {r["run"]: r for r in csv.DictReader(f)}
  assert set(rows) == {"dense/seed0", "random/sp50/seed0",
                       "prune_then_sam/sp50/seed0"}
  assert rows["random/sp50/seed0"]["pca_composite_L2"] != ""
  assert float(rows["random/sp50/seed0"]["sparsity"]) == pytest.approx(
      0.5, abs=2e-3)
  # the run can be repeated by hand from its own flagfile
  assert "--mask_method=random" in open(os.path.join(run_dir,
                                                     "run.cfg")).read()
