"""The stateless seed of one training step, shared by the trainers that
draw per-step randomness (the mask search's T and mask noise, the ratio
fine-tuning's T).

Why a module of its own: both trainers must draw the same way on one
process and on several replicas; it lives with the trainers (not in
csam_tf.pipeline.distribute, which is pipeline-level and may not be
imported from here: tests/test_package_map.py)."""

import tensorflow as tf


def replica_step_seed(seed: int, step):
  """(seed, step) as a stateless seed, folded with the replica's id when
  there are several, so each replica draws its own transformations and
  noise."""
  step_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
  if tf.distribute.get_strategy().num_replicas_in_sync > 1:
    step_seed = tf.random.experimental.stateless_fold_in(
        step_seed,
        tf.distribute.get_replica_context().replica_id_in_sync_group)
  return step_seed
