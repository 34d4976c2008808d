"""tf.distribute for every stage: which strategy, which worker this is, and
where it writes.

- `default`: one process, one device.
- `mirrored`: `MirroredStrategy` over this machine's devices (GPUs; with
  `--cpu_replicas=N` the CPU split into N logical devices, for testing).
- `multi_worker`: `MultiWorkerMirroredStrategy`, the cluster from TF_CONFIG.

Every worker runs the same stages on synchronised variables, so all compute
the same files; only the chief (worker 0) writes the real workdir. The
others write a private copy under <workdir>/.workers/worker<k>, seeded at
start-up from the chief's workdir so that they resume from the same
checkpoints: the workdir must be on storage every worker sees. Pure Python
until `make_strategy`.
"""

import json
import os
import shutil
from typing import Tuple

from csam_tf.core import workdir as workdir_lib
from csam_tf.core.errors import UsageError

STRATEGIES = ("default", "mirrored", "multi_worker")
WORKERS_DIR = ".workers"


def cluster(strategy: str) -> Tuple[int, int]:
  """(this worker's index, number of workers); checks TF_CONFIG for
  multi_worker before TensorFlow loads."""
  if strategy != "multi_worker":
    return 0, 1
  raw = os.environ.get("TF_CONFIG")
  if not raw:
    raise UsageError("--strategy=multi_worker needs TF_CONFIG, e.g. "
                     "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", "
                     "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", "
                     "\"index\": 0}}' on the first machine (README)")
  try:
    config = json.loads(raw)
    workers = config["cluster"]["worker"]
    task = config["task"]
    index = int(task["index"])
  except (ValueError, KeyError, TypeError) as e:
    raise UsageError(f"TF_CONFIG is not a cluster spec with "
                     f"cluster.worker and task.index ({e!r})") from None
  if task.get("type", "worker") != "worker" or not 0 <= index < len(workers):
    raise UsageError(f"TF_CONFIG task {task} is not one of the "
                     f"{len(workers)} workers")
  return index, len(workers)


def write_dir(workdir: str, index: int) -> str:
  """Where worker `index` writes: the workdir itself for the chief."""
  if index == 0:
    return workdir
  return os.path.join(workdir, WORKERS_DIR, f"worker{index}")


def seed_private_copy(workdir: str, index: int) -> str:
  """A non-chief worker's private workdir, refreshed from the chief's so
  every worker skips, loads and resumes the same things."""
  private = write_dir(workdir, index)
  if index == 0:
    return private
  shards = {}  # this worker's certified images survive a restart
  shard_dir = os.path.join(private, workdir_lib.CERTIFY_DIR)
  if os.path.isdir(shard_dir):
    for name in os.listdir(shard_dir):
      if ".shard" in name:
        with open(os.path.join(shard_dir, name), "rb") as f:
          shards[name] = f.read()
  if os.path.exists(private):
    shutil.rmtree(private)
  os.makedirs(private)
  if os.path.isdir(workdir):
    for name in os.listdir(workdir):
      if name in (WORKERS_DIR, workdir_lib.TENSORBOARD):
        continue
      source = os.path.join(workdir, name)
      target = os.path.join(private, name)
      if os.path.isdir(source):
        shutil.copytree(source, target)
      else:
        shutil.copy2(source, target)
  if shards:
    os.makedirs(shard_dir, exist_ok=True)
    for name, data in shards.items():
      with open(os.path.join(shard_dir, name), "wb") as f:
        f.write(data)
  return private


def remove_private_copy(workdir: str, index: int) -> None:
  """A non-chief worker's copy, once the run has finished."""
  if index != 0:
    shutil.rmtree(write_dir(workdir, index), ignore_errors=True)


def make_strategy(name: str, cpu_replicas: int = 0):
  """The tf.distribute strategy `name` describes (call before other TF
  work: MultiWorkerMirroredStrategy must be created first)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "mirrored":
    if cpu_replicas > 1:
      cpu = tf.config.list_physical_devices("CPU")[0]
      tf.config.set_logical_device_configuration(
          cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
      return tf.distribute.MirroredStrategy(
          [f"/cpu:{i}" for i in range(cpu_replicas)])
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


def barrier(strategy) -> None:
  """Returns when every worker has reached it (an all-reduce of ones)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if strategy.num_replicas_in_sync <= 1:
    return
  strategy.reduce(tf.distribute.ReduceOp.SUM,
                  strategy.run(lambda: tf.constant(1.0)), axis=None)


def local_copy(model, strategy):
  """A copy of `model` with plain variables, for work outside the training
  loop (certification, export): reading a distributed BatchNorm's moving
  statistics would otherwise start a cross-worker all-reduce that the other
  workers never join. Every worker must call it at the same point."""
  if strategy.num_replicas_in_sync <= 1:
    return model
  from csam_tf.models import copy_model  # pylint: disable=g-import-not-at-top
  return copy_model(model)  # one collective read, on every worker
