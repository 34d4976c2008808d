"""`python -m csam_tf.train` end to end: bad input, a tiny stage-1 run,
re-running, resuming and determinism."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tf_keras

from conftest import (BENCH_TINY, CE_PLUMBING, FASHION_MNIST_DIR, REPO,
                      TINY_NETWORK, TINY_RUN,
                      assert_same_checkpoint, checkpoint_values,
                      copy_pretrained_workdir, cut_checkpoints_back,
                      drop_stage_from_report, run_cli, run_module)
from csam_tf.masking.binarize import keep_count
from csam_tf.transforms.ranges import family_ranges


def _snapshot(folder):
  """Every file under `folder` with its bytes (to prove nothing changed)."""
  files = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, folder)] = f.read()
  return files


BAD_INPUTS = [
    (["--nope=1"], "Unknown command line flag 'nope'"),
    (["--arch=vgg"], "--arch=vgg"),
    (["--dataset=mnist"], "--dataset=mnist"),
    (["--augment_family=zoom"], "--augment_family: unknown transformation "
     "'zoom'"),
    (["--mask_family=my.module"], "--mask_family: unknown transformation"),
    (["--transform=pkg.mod:"], "write package.module:factory"),
    (["--transform=rotation", "--cert_families=blur"], "--transform sets "
     "the transformation of every stage; drop --cert_families"),
    (["--transform=examples.transforms.nope:factory"],
     "cannot import examples.transforms.nope"),
    (["--pretrain_lr=-1"], "--pretrain_lr=-1"),
    (["--augment_prob=1.5"], "--augment_prob=1.5"),
    (["--width_multiplier=0"], "--width_multiplier=0"),
    (["--pretrain_epochs=abc"], "--pretrain_epochs=abc"),
    (["--stages=pretrain,bogus"], "--stages takes names from"),
    (["--augment_ranges=zoom=1:2"], "unknown parameter 'zoom'"),
    (["--augment_family=rotation", "--augment_ranges=sigma=0:1"],
     "'sigma' is not drawn by family 'rotation'"),
    (["--data_dir=/nonexistent"], "apt-get install dataset-fashion-mnist"),
    (["--dataset=image_folder"], "--data_dir"),
    (["--flagfile=/nonexistent.cfg"], "Unable to open flagfile"),
    (["positional"], "unexpected argument 'positional'"),
    (["--sparsity=1.5"], "--sparsity=1.5"),
    (["--granularity=block"], "--granularity=block"),
    (["--mu=2"], "--mu=2"),
    (["--tau=101"], "--tau=101"),
    (["--lambda_ratio=-1"], "--lambda_ratio=-1"),
    (["--cert_families=zoom"], "--cert_families: unknown transformation"),
    (["--cert_delta=0"], "--cert_delta=0"),
    (["--eta=-1"], "--eta=-1"),
    (["--mask_method=prune_all"], "--mask_method=prune_all"),
    (["--mask_method=l1_filter"], "use them with --granularity=channel"),
    (["--finetune_pruning=polynomial_decay", "--granularity=channel"],
     "use it with --granularity=unstructured"),
    (["--search_bn=batch_affine", "--granularity=channel"],
     "--search_bn=batch_affine learns BatchNorm's gamma and beta, which "
     "channel mode's gates fold into"),
    (["--cert_models=tflite"], "--cert_models takes dense and/or pruned"),
    (["--finetune_ratio_weight=1", "--finetune_sam_rho=0.05"],
     "three fine-tuning objectives: use one of them"),
    (["--finetune_objective=robust", "--finetune_sam_rho=0.05"],
     "three fine-tuning objectives: use one of them"),
    (["--pretrain_objective=robust", "--pretrain_sam_rho=0.05"],
     "two pre-training objectives: use one of them"),
    (["--pretrain_objective=adversarial"], "--pretrain_objective"),
    (["--robust_views=1", "--norobust_clean_view"],
     "the KL term needs two views at least"),
    (["--robust_ratio_weight=1", "--norobust_clean_view",
      "--robust_views=2"], "keep --robust_clean_view"),
    (["--robust_family=zoom"], "--robust_family: unknown transformation"),
    (["--robust_ramp=2"], "--robust_ramp=2"),
    (["--workdir=/proc/csam_tf_run"], "is not writable"),
    (["--arch=vit", "--vit_dim=66"], "--vit_dim must be a multiple of "
     "--vit_heads"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_touches_nothing(tmp_path, args,
                                                          message):
  workdir = tmp_path / "run"
  result = run_cli(f"--workdir={workdir}", *args, timeout=60)
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith("csam_tf.train: error: ")
  assert message in lines[0]
  assert "Traceback" not in result.stderr
  assert not workdir.exists()


def _corrupt_fashion_mnist(tmp_path):
  """A --data_dir whose test labels are cut in half."""
  folder = tmp_path / "fashion"
  folder.mkdir()
  for name in os.listdir(FASHION_MNIST_DIR):
    data = open(os.path.join(FASHION_MNIST_DIR, name), "rb").read()
    if name.startswith("t10k-labels"):
      import gzip
      data = gzip.compress(gzip.decompress(data)[:5000])
    (folder / name).write_bytes(data)
  return [f"--data_dir={folder}"], "t10k-labels-idx1-ubyte.gz is truncated"


_PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def _one_class_folder(tmp_path):
  (tmp_path / "images" / "cat").mkdir(parents=True)
  (tmp_path / "images" / "cat" / "a.png").write_bytes(_PNG)
  return (["--dataset=image_folder", f"--data_dir={tmp_path / 'images'}",
           "--image_size=28"], "1 class(es) with .png/.jpg images")


def _unreadable_image(tmp_path):
  for name in ("cat", "dog"):
    (tmp_path / "images" / name).mkdir(parents=True)
    (tmp_path / "images" / name / "a.png").write_bytes(_PNG)
  (tmp_path / "images" / "dog" / "b.jpg").write_bytes(b"not an image")
  return (["--dataset=image_folder", f"--data_dir={tmp_path / 'images'}",
           "--image_size=28"], "b.jpg is not a PNG or JPEG image")


def _stage_input_missing(tmp_path):
  return ["--stages=finetune"], "stage finetune needs mask/binary_masks.npz"


@pytest.mark.parametrize("make_input", [
    _corrupt_fashion_mnist, _one_class_folder, _unreadable_image,
    _stage_input_missing])
def test_bad_files_are_one_line_and_leave_the_workdir_alone(tmp_path,
                                                           make_input):
  """Bad files found before any work: exit 2, one line, the files already
  in the workdir untouched."""
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "notes.txt").write_text("kept")
  before = _snapshot(str(workdir))
  args, message = make_input(tmp_path)
  result = run_cli(f"--workdir={workdir}", *args, timeout=60)
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0], result.stderr
  assert "Traceback" not in result.stderr
  assert _snapshot(str(workdir)) == before


def test_missing_workdir_flag():
  result = run_cli("--stages=pretrain", timeout=60)
  assert result.returncode == 2
  assert "--workdir is required" in result.stderr


def test_workdir_of_another_run_is_refused_and_left_alone(tmp_path):
  workdir = tmp_path / "run"
  workdir.mkdir()
  # how often TensorBoard gets a search point does not change a result:
  # a run recorded with another --mask_log_every is not refused for it
  (workdir / "flags.json").write_text(json.dumps({"pretrain_lr": 0.5,
                                                  "seed": 0,
                                                  "mask_log_every": 5}))
  (workdir / "report.json").write_text("{}")
  before = _snapshot(workdir)
  result = run_cli(f"--workdir={workdir}", "--pretrain_lr=0.1", timeout=60)
  assert result.returncode == 2
  assert "holds a run with --pretrain_lr=0.5, not 0.1; use" in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  assert _snapshot(workdir) == before


def _load_weights(path):
  import h5py
  weights = {}
  with h5py.File(path, "r") as f:
    f.visititems(lambda name, obj: weights.__setitem__(name, obj[()])
                 if hasattr(obj, "shape") else None)
  return weights


# Started as a user starts it: TF_CPP_MIN_LOG_LEVEL unset, and
# TF_USE_LEGACY_KERAS=1 (keras_cv then announces its backend).
_TF_NOISE = ("cuda", "cuInit", "cpu_feature_guard", "oneDNN",
             "absl::InitializeLog", "Using TensorFlow backend")


def _start_as_a_user(*args):
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  env["TF_USE_LEGACY_KERAS"] = "1"
  return run_cli(*args, timeout=300, env=env, fresh_interpreter=True)


@pytest.fixture(scope="module")
def tiny_pretrain(tmp_path_factory):
  """One stage-1 TINY_RUN and its stderr, for the two tests below
  (`make test` keeps them in one process)."""
  workdir = str(tmp_path_factory.mktemp("tiny") / "run")
  flags = [f"--workdir={workdir}", *TINY_RUN, "--stages=pretrain"]
  result = _start_as_a_user(*flags)
  assert result.returncode == 0, result.stderr[-3000:]
  return flags, result.stderr


@pytest.mark.xdist_group("tiny_pretrain")
@pytest.mark.heavy(40)
def test_tiny_run_writes_report_checkpoints_logs_and_model(tiny_pretrain):
  flags, _ = tiny_pretrain
  workdir = flags[0].split("=", 1)[1]
  with open(os.path.join(workdir, "report.json")) as f:
    report = json.load(f)
  stage = report["stages"]["pretrain"]
  assert stage["complete"] and stage["epochs"] == 1
  assert stage["steps_per_epoch"] == 4  # 256 images / batch 64
  assert stage["wall_seconds"] > 0
  assert report["flags"]["train_subset"] == 256
  assert report["flags"]["seed"] == 0 and report["flags"]["workdir"] == workdir
  assert "verbosity" not in report["flags"]  # absl's flags are not the run's
  assert report["versions"]["tensorflow"] == "2.21.0"
  assert os.path.exists(os.path.join(workdir, "checkpoints", "pretrain",
                                     "ckpt-1.index"))
  tb = os.path.join(workdir, "tb", "pretrain")
  assert os.listdir(os.path.join(tb, "train"))
  assert os.listdir(os.path.join(tb, "validation"))
  assert os.listdir(os.path.join(tb, "samples"))
  # the kept model reloads and reproduces the reported test accuracy
  import tf_keras
  from csam_tf.data import pipeline
  from csam_tf.data.config import DataConfig
  model = tf_keras.models.load_model(os.path.join(workdir,
                                                  "pretrain/model.keras"))
  data = pipeline.load(DataConfig(eval_subset=128))
  correct = sum(int(np.sum(np.argmax(model(x, training=False), 1) == y))
                for x, y in data.evaluation("test"))
  assert correct / 128 == pytest.approx(stage["test_accuracy"], abs=1e-6)


@pytest.mark.xdist_group("tiny_pretrain")
@pytest.mark.heavy(40)
def test_batch_affine_search_hands_its_gamma_and_beta_to_fine_tuning(
    tiny_pretrain, tmp_path):
  """--search_bn=batch_affine on the tiny run's dense model: the learned
  gamma and beta are saved and fine-tuning starts from them (at a learning
  rate too small to move them, they are what the pruned model ends with)."""
  workdir = copy_pretrained_workdir(tiny_pretrain[0][0].split("=", 1)[1],
                                    str(tmp_path / "run"))
  result = run_cli(f"--workdir={workdir}", *TINY_RUN,
                   "--stages=mask,finetune", "--search_bn=batch_affine",
                   "--sparsity=0.5", "--mask_lr=0.01",
                   "--mask_steps_per_epoch=2", "--finetune_epochs=1",
                   "--finetune_steps_per_epoch=2", "--finetune_lr=1e-9")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "report.json")) as f:
    mask = json.load(f)["stages"]["mask"]
  assert mask["search_bn"] == "batch_affine"
  assert mask["batchnorm_affine"] == "mask/batchnorm_affine.npz"
  dense = tf_keras.models.load_model(
      os.path.join(workdir, "pretrain/model.keras"), compile=False)
  pruned = tf_keras.models.load_model(
      os.path.join(workdir, "finetune/model.keras"), compile=False)
  moved = 0
  with np.load(os.path.join(workdir, "mask/batchnorm_affine.npz")) as saved:
    assert len(saved.files) == 2 * sum(
        isinstance(l, tf_keras.layers.BatchNormalization)
        for l in dense.layers)
    for key in saved.files:
      name, weight = key.rsplit("/", 1)
      learned = saved[key]
      np.testing.assert_allclose(
          getattr(pruned.get_layer(name), weight).numpy(), learned,
          atol=1e-6, err_msg=key)
      moved += not np.allclose(
          getattr(dense.get_layer(name), weight).numpy(), learned,
          atol=1e-4)
  assert moved > len(saved.files) // 2  # the search did learn them


@pytest.mark.xdist_group("tiny_pretrain")
@pytest.mark.heavy(40)
def test_the_cli_starts_quietly_unless_log_tf(tiny_pretrain):
  """No TensorFlow C++ start-up lines (CUDA drivers, cuInit, CPU features,
  oneDNN) on a CPU-only machine; --log_tf brings them back."""
  flags, quiet = tiny_pretrain
  assert not any(n in quiet for n in _TF_NOISE), quiet
  # the same command again skips the finished stage; it still imports
  # TensorFlow, where most of the C++ lines come from
  again = _start_as_a_user(*flags, "--log_tf=true")
  assert again.returncode == 0, again.stderr[-3000:]
  assert "pretrain: finished earlier" in again.stdout
  assert any(n in again.stderr for n in _TF_NOISE), again.stderr


# Run a of the resume tests: every training stage runs 2 epochs, so each
# test cuts its own stage back to epoch 1 in a copy and resumes it (the
# stages after it are complete in the copy's report.json and are skipped).
TWO_EPOCHS = ["--train_subset=256", "--eval_subset=128", *TINY_NETWORK,
              "--batch_size=64",
              "--stages=pretrain,mask,finetune", "--pretrain_epochs=2",
              "--mask_epochs=2", "--mask_steps_per_epoch=2",
              "--finetune_epochs=2", "--sparsity=0.5"]


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("resume") / "a")
  result = run_cli(f"--workdir={workdir}", *TWO_EPOCHS)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


def _resume_after_epoch_1(tmp_path, run_a, stage, end_files):
  """Copies the finished run a (b), cuts b's `stage` back to "killed
  after epoch 1 of 2" (its epoch-2 checkpoint and the files the stage
  writes at its end deleted), resumes it, and checks that the resumed
  epoch 2 equals run a's, variable for variable (the best-state file may
  be epoch 1's and then says nothing of a resume); returns the two
  workdirs. (Separate processes give the same bits: test_crash_safety's
  test_sigkill_in_mask_search_and_certification.)"""
  runs = {"a": run_a, "b": str(tmp_path / "b")}
  shutil.copytree(runs["a"], runs["b"])
  ckpt = {name: os.path.join(w, "checkpoints", stage)
          for name, w in runs.items()}
  epoch_2 = checkpoint_values(ckpt["a"], 2)
  cut_checkpoints_back(ckpt["b"], keep=1)
  assert not os.path.exists(os.path.join(ckpt["b"], "ckpt-2.index"))
  for name in end_files:
    os.remove(os.path.join(runs["b"], name))
  drop_stage_from_report(runs["b"], stage)
  result = run_cli(f"--workdir={runs['b']}", *TWO_EPOCHS)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"{stage}: resuming after epoch 1" in result.stdout
  # epoch 2 was trained again, from epoch 1's checkpoint, to the same bits
  assert_same_checkpoint(epoch_2, checkpoint_values(ckpt["b"], 2))
  for name in end_files:  # and the stage's outputs were written again
    assert os.path.exists(os.path.join(runs["b"], name)), name
  # the report says the stage resumed (its wall time is this invocation's),
  # run a's says it did not
  records = {name: json.load(open(os.path.join(w, "report.json")))[
      "stages"][stage] for name, w in runs.items()}
  assert {name: r["resumed_after_epoch"] for name, r in records.items()} == {
      "a": 0, "b": 1}
  # what run b's stage trained for before the resume is what run a's
  # epoch-1 checkpoint has beside it (the tables add it to b's command
  # times), and b's epoch-2 totals count b's own epoch on top
  with open(os.path.join(ckpt["a"], "times-1.json")) as f:
    epoch_1 = json.load(f)
  assert "earlier_invocations" not in records["a"]
  assert records["b"]["earlier_invocations"] == epoch_1
  with open(os.path.join(ckpt["b"], "times-2.json")) as f:
    epoch_2_times = json.load(f)
  assert all(epoch_2_times[k] > epoch_1[k] > 0 for k in epoch_1)
  return runs


@pytest.mark.xdist_group("two_epoch_run")
@pytest.mark.heavy(60)
def test_resumed_run_equals_uninterrupted_run(tmp_path, two_epoch_run):
  """Deterministic: same seed, same weights; a run cut after epoch 1
  resumes from its checkpoint and ends bit-identical."""
  runs = _resume_after_epoch_1(tmp_path, two_epoch_run, "pretrain",
                               ["pretrain/model.keras"])
  a = _load_weights(os.path.join(runs["a"], "pretrain/best.weights.h5"))
  resumed = _load_weights(os.path.join(runs["b"], "pretrain/best.weights.h5"))
  assert a.keys() == resumed.keys() and len(a) > 20
  for name in a:
    np.testing.assert_array_equal(a[name], resumed[name])
  with open(os.path.join(runs["a"], "report.json")) as f:
    accuracy_a = json.load(f)["stages"]["pretrain"]["test_accuracy"]
  with open(os.path.join(runs["b"], "report.json")) as f:
    accuracy_b = json.load(f)["stages"]["pretrain"]["test_accuracy"]
  assert accuracy_a == accuracy_b


@pytest.mark.xdist_group("two_epoch_run")
@pytest.mark.heavy(60)
def test_fine_tuning_resumes_to_the_same_weights(tmp_path, two_epoch_run):
  runs = _resume_after_epoch_1(tmp_path, two_epoch_run, "finetune",
                               ["finetune/model.keras"])
  a, b = (tf_keras.models.load_model(
      os.path.join(w, "finetune/model.keras"), compile=False)
          for w in (runs["a"], runs["b"]))
  for wa, wb in zip(a.get_weights(), b.get_weights()):
    np.testing.assert_array_equal(wa, wb)


@pytest.mark.heavy(35)
def test_all_stages_end_to_end(tiny_flags):
  """Every stage runs and produces what report.json promises (its speed
  belongs to the benchmarks: no wall-time bound here), on the command's
  default pipeline (no objective or allocation flag), and tfmot as users
  run it beside it (--tfmot_baseline, as the demo runs it)."""
  workdir = tiny_flags[0].split("=", 1)[1]
  defaults = [flag for flag in tiny_flags if flag not in CE_PLUMBING]
  result = run_cli(*defaults,
                   "--stages=pretrain,mask,finetune,export,certify",
                   "--finetune_epochs=1", "--finetune_steps_per_epoch=3",
                   "--sparsity=0.5", "--cert_num_images=6",
                   "--cert_nsamples=10", "--cert_nbounds=2",
                   "--tfmot_baseline")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "report.json")) as f:
    stages = json.load(f)["stages"]
  assert all(stages[s]["complete"] for s in
             ("pretrain", "mask", "finetune", "export", "certify"))
  # fine-tuning cut after 3 of the 4 steps of an epoch (256 / 64)
  assert stages["finetune"]["steps_per_epoch"] == 3
  saved = checkpoint_values(os.path.join(workdir, "checkpoints", "finetune"),
                            1)
  assert saved["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == 3
  assert "finetune 1 epochs x 3 steps" in result.stdout
  for model in ("dense", "pruned"):
    summary = stages["certify"][f"{model}_composite_L2"]
    assert summary["images"] == 6 and summary["nsamples"] == 10
    rows = open(os.path.join(workdir, "certify",
                             f"{model}_composite_L2.csv")).read().split()
    assert len(rows) == 7 and rows[0].startswith("index,label,prediction")
    from csam_tf.certify.rows import read_rows  # pylint: disable=import-outside-toplevel
    written = read_rows(os.path.join(workdir, "certify",
                                     f"{model}_composite_L2.csv"))
    assert summary["pca@0.001"] == pytest.approx(
        np.mean([r["certified"] for r in written]))
    assert summary["clean_accuracy"] == pytest.approx(
        np.mean([r["prediction"] == r["label"] for r in written]))

  # the shipped .tflite, certified by the stand-alone command with the same
  # settings, gives the pruned Keras model's verdicts (logits agree to 1e-5)
  lite = run_module("csam_tf.certify", f"--workdir={workdir}",
                    "--model=tflite", "--num_images=6", "--nsamples=10",
                    "--nbounds=2", timeout=300)
  assert lite.returncode == 0, lite.stderr[-3000:]
  from csam_tf.certify.rows import read_rows
  keras_rows = read_rows(os.path.join(workdir, "certify",
                                      "pruned_composite_L2.csv"))
  lite_rows = read_rows(os.path.join(workdir, "certify",
                                     "tflite_composite_L2.csv"))
  assert [r["certified"] for r in lite_rows] == \
      [r["certified"] for r in keras_rows]
  assert [r["prediction"] for r in lite_rows] == \
      [r["prediction"] for r in keras_rows]
  np.testing.assert_allclose([r["margin"] for r in lite_rows],
                             [r["margin"] for r in keras_rows], atol=1e-4)
  with open(os.path.join(workdir, "report.json")) as f:
    certified = json.load(f)["stages"]["certify"]
  assert {"dense_composite_L2", "pruned_composite_L2",
          "tflite_composite_L2"} <= set(certified)
  # export is quiet: no converter or LiteRT delegate chatter
  for chatter in ("XNNPACK delegate", "tf_tfl_flatbuffer_helpers",
                  "Ignored output_format", "fully_quantize"):
    assert chatter not in result.stdout + result.stderr, chatter
  assert "int8 calibration: 256/256" in result.stdout  # its progress
  assert result.stdout.startswith("plan: pretrain 1 epochs x 4 steps")
  # the run ends with the summary a user acts on, from report.json
  summary = result.stdout[result.stdout.index("Summary of"):]
  assert f"{100 * stages['finetune']['test_accuracy']:.2f}%" in summary
  assert f"{100 * stages['finetune']['sparsity']:.2f}%" in summary
  assert "PCA@0.001 composite L2" in summary
  assert os.path.join(workdir, "export/model.tflite") in summary
  assert "tensorboard --logdir" in summary
  # the defaults are the shipped pipeline (BENCHMARKS.md, v3): the robust
  # objective in both training stages at lambda 5 with one transformed
  # view beside the clean image, masks allocated over
  # all masked layers together (exactly half of all their weights kept,
  # unevenly per layer)
  assert stages["pretrain"]["objective"] == "robust"
  assert "consistency" in stages["pretrain"]["last_epoch_logs"]
  assert stages["finetune"]["objective"] == "robust"
  assert stages["finetune"]["robust"]["weight"] == 5.0
  assert stages["finetune"]["robust"]["views"] == 1
  binary = np.load(os.path.join(workdir, "mask", "binary_masks.npz"))
  total = sum(binary[name].size for name in binary.files)
  assert sum(int(binary[name].sum()) for name in binary.files) == \
      keep_count(total, 0.5)
  per_layer = list(stages["finetune"]["sparsity_per_layer"].values())
  assert max(per_layer) - min(per_layer) > 0.05
  mask = stages["mask"]
  for key in ("binary_validation_accuracy", "flip_fraction",
              "soft_binary_agreement_test", "mask_mean"):
    assert key in mask
  assert mask["binary_sparsity"] == pytest.approx(0.5, abs=1e-3)
  finetune = stages["finetune"]
  # measured from the stripped weights: 50% within one weight per layer
  assert finetune["sparsity"] == pytest.approx(0.5, abs=1e-3)
  assert finetune["zero_weights"] > 0
  export = stages["export"]
  assert export["float32"]["max_abs_logit_diff"] < 1e-4
  assert export["float32"]["argmax_agreement"] == 1.0
  for name in ("export/model.tflite", "export/model_int8.tflite",
               "export/model_sparse.tflite",
               "export/saved_model/saved_model.pb", "finetune/model.keras",
               "mask/soft_masks.npz", "mask/binary_masks.npz"):
    assert os.path.exists(os.path.join(workdir, name)), name
  _assert_the_tfmot_baseline(workdir, stages, summary)


def _assert_the_tfmot_baseline(workdir, ours, summary):
  """--tfmot_baseline pruned the run's own dense weights (bit for bit)
  with tfmot's per-layer targets under cross-entropy, certified the
  pruned model only, and the summary's points are the two reports'."""
  baseline = os.path.join(workdir, "tfmot_baseline")
  with open(os.path.join(workdir, "pretrain/best.weights.h5"), "rb") as a, \
      open(os.path.join(baseline, "pretrain/best.weights.h5"), "rb") as b:
    assert a.read() == b.read()
  with open(os.path.join(baseline, "report.json")) as f:
    report = json.load(f)
  theirs = report["stages"]
  assert theirs["pretrain"]["shared_from"] == workdir
  assert (report["flags"]["finetune_pruning"], report["flags"]["binarize"],
          report["flags"]["finetune_objective"]) == (
              "polynomial_decay", "layerwise", "ce")
  assert theirs["finetune"]["objective"] == "ce"
  assert theirs["finetune"]["steps_per_epoch"] == 3   # the run's budget
  # every pruned layer at the sparsity (within one weight), where the
  # run's global masks spread it unevenly
  per_layer = theirs["finetune"]["sparsity_per_layer"]
  assert per_layer and all(abs(v - 0.5) < 0.01 for v in per_layer.values())
  assert {k for k, v in theirs["certify"].items() if isinstance(v, dict)} \
      == {"pruned_composite_L2"}
  assert theirs["certify"]["pruned_composite_L2"]["images"] == 6
  header = summary.splitlines()[2].split()
  assert header == ["dense", "pruned", "tfmot", "as", "users", "run", "it"]
  pca, accuracy = ([round(100 * value, 2) for value in pair] for pair in (
      [r["certify"]["pruned_composite_L2"]["pca@0.001"] for r in (ours,
                                                                 theirs)],
      [r["finetune"]["test_accuracy"] for r in (ours, theirs)]))
  assert (f"PCA@0.001 composite L2 {pca[0] - pca[1]:+.2f} points, test "
          f"accuracy {accuracy[0] - accuracy[1]:+.2f} points.") in summary
  line = next(l for l in summary.splitlines() if l.startswith("pruned by"))
  assert " ".join(line.split()) == (
      "pruned by - C-SAM masks, global tfmot gradual magnitude, layer-wise")


def test_a_stage_without_its_input_is_refused_early(tmp_path):
  workdir = tmp_path / "run"
  result = run_cli(f"--workdir={workdir}", "--stages=finetune", timeout=60)
  assert result.returncode == 2
  assert "stage finetune needs mask/binary_masks.npz from stage mask" in \
      result.stderr
  assert not workdir.exists()


@pytest.mark.heavy(25)
def test_channel_mode_end_to_end(tiny_flags):
  workdir = tiny_flags[0].split("=", 1)[1]
  result = run_cli(*tiny_flags, "--stages=pretrain,mask,finetune,export",
                   "--granularity=channel", "--finetune_epochs=1",
                   "--sparsity=0.5")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "report.json")) as f:
    stages = json.load(f)["stages"]
  finetune = stages["finetune"]
  assert finetune["granularity"] == "channel"
  # half the gated channels closed, measured from BatchNorm gamma = beta = 0
  # (width 1/16: every layer has an even channel count, so exactly half)
  assert finetune["sparsity_per_layer"]
  for name, value in finetune["sparsity_per_layer"].items():
    assert value == 0.5, name
  assert stages["export"]["float32"]["argmax_agreement"] == 1.0
  assert "sparse" not in stages["export"]
  # the saved model is physically narrower and computes what its gated
  # parent computes
  assert finetune["narrow_vs_gated_max_abs_logit_diff"] < 1e-5
  assert finetune["parameters_pruned"] < finetune["parameters_dense"] / 2
  assert finetune["flops_pruned"] < finetune["flops_dense"] / 2
  narrow = tf_keras.models.load_model(
      os.path.join(workdir, "finetune/model.keras"), compile=False)
  gated = tf_keras.models.load_model(
      os.path.join(workdir, "finetune/gated_model.keras"), compile=False)
  assert narrow.count_params() == finetune["parameters_pruned"]
  assert narrow.get_layer("stage2_block1_1_conv").kernel.shape[-1] == \
      gated.get_layer("stage2_block1_1_conv").kernel.shape[-1] // 2
  images = np.random.default_rng(0).uniform(0, 1, (8, 28, 28, 1)).astype(
      np.float32)
  np.testing.assert_allclose(narrow(images).numpy(), gated(images).numpy(),
                             atol=1e-5)
  compared = stages["export"]["dense_vs_pruned"]
  assert compared["parameters"] == {"dense": finetune["parameters_dense"],
                                    "pruned": finetune["parameters_pruned"]}
  assert compared["flops"]["reduction"] > 2
  for variant in ("float32", "int8"):
    assert compared[variant]["bytes_pruned"] < compared[variant][
        "bytes_dense"]
    assert compared[variant]["latency_ms_pruned"] > 0


@pytest.mark.xdist_group("two_epoch_run")
@pytest.mark.heavy(60)
def test_mask_search_resumes_to_the_same_masks(tmp_path, two_epoch_run):
  runs = _resume_after_epoch_1(tmp_path, two_epoch_run, "mask",
                               ["mask/binary_masks.npz"])
  for name in ("mask/soft_masks.npz", "mask/binary_masks.npz"):
    a = np.load(os.path.join(runs["a"], name))
    b = np.load(os.path.join(runs["b"], name))
    # ResNet-10's 12 convs and head: stem and head whole
    assert a.files == b.files and len(a.files) == 11
    for layer in a.files:
      np.testing.assert_array_equal(a[layer], b[layer])


# The ViT's heads and MLP channels with Taylor scores, through the CLI
# (GoogLeNet and MobileNetV2 with the one-shot channel criteria, through
# the same trainer and surgery: tests/test_api.py).
@pytest.mark.heavy(15)
def test_channel_mode_narrows_a_vits_heads_and_mlp(tiny_flags):
  workdir = tiny_flags[0].split("=", 1)[1]
  result = run_cli(*tiny_flags, "--stages=pretrain,mask,finetune",
                   "--arch=vit", "--mask_method=taylor",
                   "--granularity=channel",
                   "--mask_steps_per_epoch=2", "--finetune_epochs=1",
                   "--finetune_steps_per_epoch=1", "--train_subset=128",
                   "--importance_batches=2", "--vit_patch_size=7",
                   "--vit_dim=16", "--vit_depth=2", "--width_multiplier=1")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "report.json")) as f:
    finetune = json.load(f)["stages"]["finetune"]
  assert finetune["narrow_vs_gated_max_abs_logit_diff"] < 1e-5
  assert finetune["parameters_pruned"] < finetune["parameters_dense"]
  assert abs(finetune["channels_removed_fraction"] - 0.5) < 0.01
  # 2 of 4 heads and 16 of 32 MLP channels per block
  assert finetune["heads_removed_fraction"] == 0.5
  assert finetune["mlp_channels_removed_fraction"] == 0.5
  assert finetune["sparsity_per_layer"] == {
      f"block{b}_{gate}": 0.5 for b in (1, 2)
      for gate in ("attention", "mlp_gelu")}


@pytest.mark.heavy(25)
def test_the_plugin_is_what_every_stage_applies(tmp_path):
  """--transform with a plug-in that marks every batch of more than 4
  images it transforms (its Python `if` on a tensor needs autograph):
  stage 1's augmentation, the search's T and the fine-tuning's robust
  views each apply it (one run; its output and the plug-in's marks in one
  stream, cut at each stage's 'starting' line), and certification's
  settings name it and its ranges."""
  sys.path.insert(0, os.path.join(REPO, "tests", "transforms"))
  import sample_plugins  # pylint: disable=import-outside-toplevel
  workdir = tmp_path / "r"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=os.path.join(REPO, "tests", "transforms"))
  result = subprocess.run(
      [sys.executable, "-m", "csam_tf.train", f"--workdir={workdir}",
       *TINY_RUN, "--stages=pretrain,mask,finetune,certify",
       "--transform=sample_plugins:marked", "--mask_steps_per_epoch=2",
       "--finetune_steps_per_epoch=2", "--finetune_objective=robust",
       "--cert_models=dense", "--cert_num_images=4", "--cert_nsamples=10",
       "--cert_nbounds=2"],
      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      text=True, timeout=600)
  assert result.returncode == 0, result.stdout[-3000:]
  assert "Traceback" not in result.stdout
  marks = {}
  pieces = re.split(r"^(\w+): starting$", result.stdout, flags=re.M)
  for stage, text in zip(pieces[1::2], pieces[2::2]):
    marks[stage] = text.count(sample_plugins.MARK)
  assert set(marks) == {"pretrain", "mask", "finetune", "certify"}, \
      result.stdout[-2000:]
  # (certification transforms only correctly classified images, and this
  # tiny model may have none of its 4: its settings name the plug-in below)
  del marks["certify"]
  assert all(count >= 2 for count in marks.values()), marks
  with open(workdir / "report.json") as f:
    report = json.load(f)
  assert report["flags"]["transform"] == "sample_plugins:marked"
  assert set(report["stages"]["certify"]) >= {"dense_marked_L2"}
  with open(workdir / "certify" / "dense_marked_L2.csv.settings.json") as f:
    settings = json.load(f)
  # the plug-in's own ranges: the protocol's brightness at level L2
  assert (settings["family"], settings["ranges"]) == (
      "marked", {k: list(v) for k, v in family_ranges("brightness",
                                                      "L2").items()})
