"""The per-step seed: exactly (seed, step) on one replica; on two CPU
replicas each replica gets its own, different from the one-replica seed
(a subprocess, since logical CPU devices must be set before TF starts)."""

import subprocess
import sys

import tensorflow as tf

from conftest import REPO
from trainers.step_seed import replica_step_seed

TWO_REPLICAS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from trainers.step_seed import replica_step_seed
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
seeds = strategy.run(tf.function(lambda: replica_step_seed(7, 3)))
for value in strategy.experimental_local_results(seeds):
  print(*value.numpy().tolist())
"""


def test_one_replica_seed_is_seed_and_step():
  seed = replica_step_seed(7, tf.constant(3, tf.int64))
  assert seed.dtype == tf.int64
  assert seed.numpy().tolist() == [7, 3]


def test_two_replicas_draw_their_own_seeds():
  result = subprocess.run([sys.executable, "-c", TWO_REPLICAS], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  seeds = [tuple(map(int, line.split()))
           for line in result.stdout.strip().splitlines()]
  expected = [tuple(tf.random.experimental.stateless_fold_in(
      tf.constant([7, 3], tf.int64), replica).numpy().tolist())
              for replica in (0, 1)]
  assert seeds == expected
  assert len(set(seeds)) == 2 and (7, 3) not in seeds
