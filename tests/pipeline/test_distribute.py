"""tf.distribute: two workers on localhost (MultiWorkerMirroredStrategy,
TF_CONFIG on 127.0.0.1) against one process with the same seed and global
batch, the mask search on two CPU replicas under MirroredStrategy, and
TF_CONFIG checks.

Not bit-identical by design: each replica normalises BatchNorm over its
share of the batch and draws its own mask noise. So each comparison
starts from the same weights where it can: stage 1 on two workers against
stage 1 in one process (last-epoch training accuracy within 8 points:
measured 0.2 with ResNet-10), and the searches (two workers, two
replicas) against one process's search from the two workers' own dense
model (binary masks equal on at least 99% of entries: measured 99.93-99.96%
with TensorFlow's default threads and with one thread per process, AVX2
CPU). Comparing searches from two separately trained dense models measured
the divergence of stage 1 instead (98.2% with default threads, 95.3% with
one thread per process).
"""

import csv
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import (CE_PLUMBING, REPO, TINY_ARCH, TINY_NETWORK, TINY_WIDTH,
                      drop_stage_from_report, run_cli)

# One test process computes the single-process run for this module's tests
# (`make test`: pytest-xdist --dist loadgroup).
pytestmark = [pytest.mark.xdist_group("distribute"),
              pytest.mark.heavy(110)]

TRAIN_IMAGES = 2048
EVAL_IMAGES = 256
BATCH_SIZE = 128
CERT_IMAGES = 8
FLAGS = [f"--train_subset={TRAIN_IMAGES}", f"--eval_subset={EVAL_IMAGES}",
         "--pretrain_epochs=2", *TINY_NETWORK, f"--batch_size={BATCH_SIZE}",
         "--augment_family=none",
         "--mask_steps_per_epoch=4", "--finetune_steps_per_epoch=4",
         f"--cert_num_images={CERT_IMAGES}",
         "--cert_nsamples=10", "--cert_nbounds=2",
         "--stages=pretrain,mask,finetune,certify", *CE_PLUMBING,
         # after CE_PLUMBING's 2 epochs (the last flag wins): one epoch is
         # enough to fine-tune on two workers
         "--finetune_epochs=1",
         # the search its agreement figures were measured with (v2: mask
         # lr 1e-3, per-layer top-k, the paper's ratio): the default lr
         # 1e-2 moves the masks ten times as far in 4 steps
         "--mask_lr=0.001", "--binarize=layerwise", "--ratio_clip=0"]
# the one-process runs: stage 1 alone, and the reference searches (from a
# dense model already trained)
ONE_PROCESS_FLAGS = [f for f in FLAGS if not f.startswith("--stages")]
SEARCH_FLAGS = ONE_PROCESS_FLAGS + ["--stages=pretrain,mask"]


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _report(workdir):
  with open(os.path.join(workdir, "report.json")) as f:
    return json.load(f)["stages"]


def _mask_agreement(a, b):
  with np.load(os.path.join(a, "mask/binary_masks.npz")) as x, np.load(
      os.path.join(b, "mask/binary_masks.npz")) as y:
    return float(np.mean(np.concatenate(
        [(x[k] == y[k]).ravel() for k in x.files])))


@pytest.fixture(scope="module")
def single(tmp_path_factory):
  """Stage 1 in one process: what the two workers' stage 1 is compared
  with."""
  workdir = str(tmp_path_factory.mktemp("dist") / "single")
  result = run_cli(f"--workdir={workdir}", *ONE_PROCESS_FLAGS,
                   "--stages=pretrain")
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
  """Every stage on two workers on localhost: (workdir, the processes'
  return codes and stderr)."""
  workdir = str(tmp_path_factory.mktemp("dist") / "two_workers")
  ports = _free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  processes = []
  for index in range(2):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": index}}))
    processes.append(subprocess.Popen(
        [sys.executable, "-m", "csam_tf.train", f"--workdir={workdir}",
         "--strategy=multi_worker", *FLAGS], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outputs = [p.communicate(timeout=900) for p in processes]
  return workdir, [(p.returncode, err) for p, (_, err) in
                   zip(processes, outputs)]


def _without_search(source, workdir):
  """A copy of `source` whose report and folders end with stage 1."""
  shutil.copytree(source, workdir)
  stages = _report(workdir)
  for stage in ("mask", "finetune", "export", "certify"):
    if stage in stages:
      drop_stage_from_report(workdir, stage)
    for folder in (stage, os.path.join("checkpoints", stage)):
      shutil.rmtree(os.path.join(workdir, folder), ignore_errors=True)


@pytest.fixture(scope="module")
def reference_search(tmp_path_factory, two_workers):
  """The search in one process from the two workers' dense model."""
  workdir = str(tmp_path_factory.mktemp("dist") / "reference")
  _without_search(two_workers[0], workdir)
  result = run_cli(f"--workdir={workdir}", *SEARCH_FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "pretrain: finished earlier" in result.stdout
  return workdir


def test_two_workers_on_localhost_match_one_process(two_workers, single,
                                                    reference_search):
  workdir, processes = two_workers
  for code, stderr in processes:
    assert code == 0, stderr[-3000:]

  stages = _report(workdir)
  assert stages["pretrain"]["workers"] == 2
  assert stages["mask"]["replicas"] == 2
  # the worker's private copy is gone; the chief joined the shards
  assert not os.path.exists(os.path.join(workdir, ".workers", "worker1"))
  with open(os.path.join(workdir, "certify", "pruned_composite_L2.csv")) as f:
    indices = [int(row["index"]) for row in csv.DictReader(f)]
  assert indices == list(range(CERT_IMAGES))
  assert stages["certify"]["pruned_composite_L2"]["images"] == CERT_IMAGES

  reference = _report(single)
  assert abs(stages["pretrain"]["last_epoch_logs"]["accuracy"] -
             reference["pretrain"]["last_epoch_logs"]["accuracy"]) <= 0.08
  _assert_the_search_moved_the_masks(stages["mask"])
  _assert_search_moved_the_masks_alike(workdir, reference_search, 0.99)
  # The binary masks' accuracy is over the whole test set, not the two
  # workers' shares summed (1.59 before the fix): recomputed here in one
  # process from the run's own dense weights and binary masks (BatchNorm
  # re-estimated the same way), it is the number the workers reported.
  # (Comparing it with the one-process run's accuracy would compare two
  # near-chance tiny models: 0.10 against 0.22 on one machine.)
  assert stages["mask"]["binary_test_accuracy"] == pytest.approx(
      _binary_test_accuracy(workdir), abs=2 / EVAL_IMAGES)
  _assert_search_logs_are_global(stages["mask"])


def _assert_search_logs_are_global(mask):
  """fit's validation logs of the search are the whole validation set's
  values, not the workers' summed (val_accuracy 1.10, val_mask_mean 1.69
  from two workers before the fix): its one epoch validated the masks the
  stage kept."""
  logs = mask["last_epoch_logs"]
  assert logs["val_mask_mean"] == pytest.approx(mask["mask_mean"], rel=1e-5)
  assert logs["val_accuracy"] == pytest.approx(
      mask["binary_validation_accuracy"], abs=2 / EVAL_IMAGES)


def _binary_test_accuracy(workdir):
  """Test accuracy of a workdir's binary masks on its dense weights."""
  import tensorflow as tf
  from csam_tf.data import pipeline
  from csam_tf.data.config import DataConfig
  from csam_tf.masking.masked_model import mask_variables, to_masked_model
  from csam_tf.models import build_model
  from trainers.mask_search import MaskSearchTrainer
  from trainers.mask_search_config import MaskSearchConfig
  data = pipeline.load(DataConfig(train_subset=TRAIN_IMAGES,
                                  eval_subset=EVAL_IMAGES,
                                  batch_size=BATCH_SIZE))
  network = build_model(TINY_ARCH, data.input_shape, data.num_classes,
                        TINY_WIDTH)
  network.load_weights(os.path.join(workdir, "pretrain/best.weights.h5"))
  model = to_masked_model(network)
  with np.load(os.path.join(workdir, "mask/binary_masks.npz")) as masks:
    for variable, layer in zip(mask_variables(model), [
        l for l in model.layers if hasattr(l, "soft_mask")]):
      variable.assign(masks[layer.name])
  trainer = MaskSearchTrainer(model, MaskSearchConfig(
      sparsity=0.5, binarize_score="mask"))
  trainer.recalibrate(data.train(0))
  correct = total = 0
  for images, labels in data.evaluation("test"):
    logits = trainer.forward([tf.convert_to_tensor(m) for m in
                              mask_variables(model)], images,
                             batch_statistics=False)
    correct += int(np.sum(np.argmax(logits, 1) == labels.numpy()))
    total += len(labels)
  return correct / total


def test_mirrored_on_two_cpu_replicas(tmp_path, reference_search):
  """The mask search on two CPU replicas, from the dense model the
  one-process reference search started from (the strategy is not part of
  a run's flags; training on several replicas is the two workers'
  test)."""
  workdir = str(tmp_path / "mirrored")
  _without_search(reference_search, workdir)
  result = run_cli(f"--workdir={workdir}", "--strategy=mirrored",
                   "--cpu_replicas=2", *SEARCH_FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "pretrain: finished earlier" in result.stdout
  stages = _report(workdir)
  assert stages["mask"]["replicas"] == 2 and stages["mask"]["workers"] == 1
  _assert_search_logs_are_global(stages["mask"])
  _assert_the_search_moved_the_masks(stages["mask"])
  _assert_search_moved_the_masks_alike(workdir, reference_search, 0.99)


def _assert_the_search_moved_the_masks(mask):
  """The search did something: the soft masks left their initialisation
  and the binary masks are no longer magnitude pruning's."""
  assert mask["mask_moved"] > 1e-3
  assert mask["magnitude_overlap"] < 1.0


def _assert_search_moved_the_masks_alike(workdir, reference, agreement):
  """Both searches moved their masks, by about as much (replicas
  normalise BatchNorm over their share of the batch and draw their own
  noise, so the trajectories differ: at 4 steps the soft masks of the two
  runs differ about as much as either moved), and the binary masks agree
  on at least `agreement` of their entries (measured on the AMD EPYC:
  99.94% two CPU replicas, 99.93-99.96% two workers)."""
  mine, theirs = _report(workdir)["mask"], _report(reference)["mask"]
  _assert_the_search_moved_the_masks(theirs)
  assert 0.5 < mine["mask_moved"] / theirs["mask_moved"] < 2.0
  assert _mask_agreement(workdir, reference) >= agreement


@pytest.mark.parametrize("tf_config,message", [
    (None, "--strategy=multi_worker needs TF_CONFIG"),
    ("not json", "TF_CONFIG is not a cluster spec"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", '
     '"index": 3}}', "is not one of the 1 workers"),
])
def test_tf_config_is_checked_first(tmp_path, tf_config, message):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("TF_CONFIG", None)
  if tf_config is not None:
    env["TF_CONFIG"] = tf_config
  result = subprocess.run(
      [sys.executable, "-m", "csam_tf.train", f"--workdir={tmp_path / 'w'}",
       "--strategy=multi_worker"], cwd=REPO, env=env, capture_output=True,
      text=True, timeout=60)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0]
  assert not (tmp_path / "w").exists()
