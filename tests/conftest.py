"""Shared test set-up: quiet TensorFlow, the repo on sys.path, helpers."""

import fcntl
import os
import shutil
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

import keras_cv  # noqa: E402,F401  (Keras 3 before tfmot, as in the library)
import pytest  # noqa: E402
from cli_zygote import Zygote  # noqa: E402

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


ZYGOTE = Zygote()


def run_cli(*args, **kwargs):
  """Runs `python -m csam_tf.train` with args: `run_module`'s result."""
  return run_module("csam_tf.train", *args, **kwargs)


def run_module(module, *args, timeout=600, env=None,
               fresh_interpreter=False):
  """Runs `python -m <module>` with args (by default TensorFlow's C++ log
  quiet); returns CompletedProcess. The run is a child of the test
  process's cli_zygote (TensorFlow imported once) unless the test needs
  the program's own start-up or imports (`fresh_interpreter`)."""
  env = env or dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  if not fresh_interpreter:
    return ZYGOTE.run(args, module=module, cwd=REPO, env=env,
                      timeout=timeout)
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO,
                        env=env, capture_output=True, text=True,
                        timeout=timeout)


# The network of the end-to-end tests: ResNet-10 at width 1/16 (tracing the
# graphs sets a tiny run's time: ResNet-10 takes 0.72x ResNet-18's on the
# all-stages run, CPU).
TINY_ARCH, TINY_WIDTH = "resnet10", 0.0625
TINY_NETWORK = [f"--arch={TINY_ARCH}", f"--width_multiplier={TINY_WIDTH}"]

# The stages' plumbing on cross-entropy for 2 fine-tuning epochs: the
# robust objective (the command's default, two views a step) and its 4
# epochs would double a tiny run's training; the default pipeline has its
# own end-to-end test (test_all_stages_end_to_end).
CE_PLUMBING = ["--pretrain_objective=ce", "--finetune_objective=ce",
               "--finetune_epochs=2"]

# A run that takes seconds: 256 images, 1 epoch, the tiny network.
TINY_RUN = ["--train_subset=256", "--eval_subset=128", "--pretrain_epochs=1",
            *TINY_NETWORK, "--batch_size=64", *CE_PLUMBING]


@pytest.fixture
def tiny_flags(tmp_path):
  """TINY_RUN in a fresh workdir (the first flag)."""
  return [f"--workdir={tmp_path / 'run'}", *TINY_RUN]


BENCH_TINY = ["--train_subset=512", "--eval_subset=128", "--batch_size=64",
              *TINY_NETWORK, *CE_PLUMBING]


def once_per_session(tmp_path_factory, name, make):
  """The folder `make(folder)` fills, made once per test session whichever
  pytest-xdist worker asks first (the others wait for it, then share it;
  a session fixture alone is made once per worker). Users read it or copy
  it, never write into it."""
  base = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    base = base.parent  # the session's folder, above each worker's own
  folder = base / name
  with open(base / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (base / f"{name}.done").exists():
      shutil.rmtree(folder, ignore_errors=True)  # a failed attempt's
      make(str(folder))
      (base / f"{name}.done").touch()
  return str(folder)


@pytest.fixture(scope="session")
def tiny_dense_workdir(tmp_path_factory):
  """A stage-1 workdir trained once per test session (1 epoch, 512 images,
  width 1/16): the model the bench and the profiler measure, and the
  dense model of the tests that fine-tune or prune one (copied)."""

  def pretrain(workdir):
    result = run_cli(f"--workdir={workdir}", "--stages=pretrain",
                     "--pretrain_epochs=1", *BENCH_TINY)
    assert result.returncode == 0, result.stderr[-2000:]

  return once_per_session(tmp_path_factory, "tiny_dense", pretrain)


def copy_pretrained_workdir(source, target):
  """A copy of a finished stage-1 workdir that a run with other flags may
  continue (its flags.json, which pins the flags, left behind)."""
  shutil.copytree(source, target)
  os.remove(os.path.join(target, "flags.json"))
  return target


def drop_stage_from_report(workdir, stage):
  """report.json as if `stage` had never finished."""
  import json  # pylint: disable=import-outside-toplevel
  path = os.path.join(workdir, "report.json")
  with open(path) as f:
    report = json.load(f)
  del report["stages"][stage]
  with open(path, "w") as f:
    json.dump(report, f)


def checkpoint_values(ckpt_dir, number):
  """Every variable saved in checkpoint `ckpt-<number>` of a stage (the
  network, the optimizer's slots, the loop state), by name."""
  import tensorflow as tf
  reader = tf.train.load_checkpoint(os.path.join(ckpt_dir, f"ckpt-{number}"))
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def cut_checkpoints_back(ckpt_dir, keep):
  """Leaves a stage's checkpoints as a run killed after epoch `keep` left
  them: later checkpoints deleted, `keep` the latest."""
  import tensorflow as tf
  for name in os.listdir(ckpt_dir):
    if name.startswith("ckpt-") and int(name[5:].split(".")[0]) > keep:
      os.remove(os.path.join(ckpt_dir, name))
  tf.compat.v1.train.update_checkpoint_state(ckpt_dir, f"ckpt-{keep}")


def assert_same_checkpoint(a, b):
  """Two checkpoints hold the same variables, bit for bit."""
  import numpy as np
  assert a.keys() == b.keys() and len(a) > 10
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "heavy(seconds): the test (or its group, with the fixture "
      "it shares) takes about `seconds` on 2 cores; the heaviest start "
      "first")


def heavy_first(items):
  """Sorts `items` heaviest first by their `heavy` marks (unmarked: 0),
  collection order otherwise: with `--dist loadgroup
  --no-loadscope-reorder` a worker takes the next test or group in this
  order when it is free, so long runs do not start last while the other
  worker idles (a group starts where its heaviest member stands)."""
  def seconds(item):
    mark = item.get_closest_marker("heavy")
    return mark.args[0] if mark else 0
  items.sort(key=lambda item: -seconds(item))


def pytest_collection_modifyitems(config, items):
  """Under `--dist loadgroup`: heaviest first (`heavy_first`; a plain run
  keeps the collection order, where a module's tests stay together with
  their module fixtures), then the "@group" suffix.

  `--dist loadgroup` sends tests with the same `xdist_group` mark to one
  worker by reading a "@group" suffix of their node ids. pytest-xdist 3.8
  adds it by setting `item._nodeid`, which pytest 9.2 no longer reads (a
  node's id is `item._id`), so the groups were silently ignored: add the
  suffix here, as xdist means to."""
  if not getattr(config.option, "loadgroup", False):
    return
  heavy_first(items)
  for item in items:
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name",
                                                               "default"))
                    for m in item.iter_markers("xdist_group")})
    if names and "@" not in item.nodeid:
      item._id = type(item._id).parse(  # pylint: disable=protected-access
          f"{item.nodeid}@{'_'.join(names)}")


def layerwise_search(**settings):
  """The MaskSearchConfig of the layer-wise search the trainer tests
  compute by hand (per-layer top-k, mask lr 1e-3, the paper's ratio), with
  `settings` over it; the command's default global allocation is tested
  end to end (test_all_stages_end_to_end)."""
  # pylint: disable-next=import-outside-toplevel
  from trainers.mask_search_config import MaskSearchConfig
  return MaskSearchConfig(**{"binarize": "layerwise", "learning_rate": 1e-3,
                             "ratio_clip": 0.0, **settings})


def custom_model(input_shape=(28, 28, 1), classes=10, softmax=False):
  """A user's model that is none of the built-in architectures: Conv-BN
  stem, a residual Add, a depthwise-separable branch and a conv branch
  joined by Concatenate, a strided conv, a Dense head (logits unless
  `softmax`)."""
  import tf_keras  # pylint: disable=import-outside-toplevel
  L = tf_keras.layers  # pylint: disable=invalid-name
  x = inputs = tf_keras.Input(input_shape)
  x = L.Conv2D(8, 3, padding="same", use_bias=False, name="c0")(x)
  x = L.ReLU()(L.BatchNormalization(name="b0")(x))
  y = L.Conv2D(8, 3, padding="same", use_bias=False, name="c1")(x)
  y = L.ReLU()(L.BatchNormalization(name="b1")(y))
  x = L.Add()([x, y])
  d = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
  d = L.ReLU()(L.BatchNormalization(name="bdw")(d))
  p = L.Conv2D(12, 1, use_bias=False, name="pw")(d)
  p = L.ReLU()(L.BatchNormalization(name="bpw")(p))
  q = L.Conv2D(6, 3, padding="same", use_bias=False, name="c2")(x)
  q = L.ReLU()(L.BatchNormalization(name="b2")(q))
  x = L.Concatenate()([p, q])
  x = L.Conv2D(10, 3, strides=2, padding="same", use_bias=False, name="c3")(x)
  x = L.ReLU()(L.BatchNormalization(name="b3")(x))
  x = L.GlobalAveragePooling2D()(x)
  return tf_keras.Model(inputs, L.Dense(
      classes, activation="softmax" if softmax else None, name="head")(x))


def losses_by_step(trainer, variables, images, labels, steps):
  """The loss `trainer.train_on_batch` reports at each optimizer step of
  `steps`, every time from the same `variables` values (restored before
  each call): what a step draws from (seed, step) is the only thing that
  differs, so equal steps must give equal losses (a resumed step draws
  what the uninterrupted one did) and different steps different ones."""
  start = [v.numpy() for v in variables]
  losses = []
  for step in steps:
    for variable, value in zip(variables, start):
      variable.assign(value)
    trainer.optimizer.iterations.assign(step)
    losses.append(trainer.train_on_batch(images, labels,
                                         return_dict=True)["loss"])
  return losses


def linear_problem():
  """(model, kernel, images, labels): a linear classifier of 6x6 images
  with no BatchNorm, so a forward pass on several views stacked is
  exactly one forward per view; the trainers' hand-computed losses use it."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tf_keras  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  kernel = rng.normal(0, 0.3, (36, 3)).astype(np.float32)
  inputs = tf_keras.Input((6, 6, 1))
  outputs = tf_keras.layers.Dense(
      3, use_bias=False, kernel_initializer=tf_keras.initializers.Constant(
          kernel))(tf_keras.layers.Flatten()(inputs))
  images = rng.uniform(0, 1, (4, 6, 6, 1)).astype(np.float32)
  labels = np.array([0, 1, 2, 1], np.int32)
  return tf_keras.Model(inputs, outputs), kernel, images, labels


def softmax(logits):
  import numpy as np  # pylint: disable=import-outside-toplevel
  e = np.exp(logits - logits.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)
