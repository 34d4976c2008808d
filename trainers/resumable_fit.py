"""The epoch loop every stage shares: `fit` with a checkpoint per epoch,
resumption from the last one, the best validation state kept on disk, and
TensorBoard logs under <workdir>/tb/<stage>."""

import os
import sys
from typing import Callable, Dict, Optional, Sequence

import tensorflow as tf
import tf_keras

from csam_tf import atomic_io
from csam_tf.data.pipeline import Augment, DataBundle


class _EpochEnd(tf_keras.callbacks.Callback):
  """Saves the best state so far, then checkpoints the finished epoch."""

  def __init__(self, state, manager, save_best, best_path, monitor):
    super().__init__()
    self._state, self._manager = state, manager
    self._save_best, self._best_path = save_best, best_path
    self._monitor = monitor
    self.last_logs = {}

  def on_epoch_end(self, epoch, logs=None):
    self.last_logs = {k: float(v) for k, v in (logs or {}).items()}
    value = float(logs[self._monitor])
    if value > float(self._state["best_value"].numpy()):
      self._state["best_value"].assign(value)
      self._state["best_epoch"].assign(epoch + 1)
      atomic_io.write_atomically(self._best_path, self._save_best,
                                 suffix=_suffix(self._best_path))
    self._state["epoch"].assign(epoch + 1)
    self._manager.save(checkpoint_number=epoch + 1)


def resumable_fit(stage: str, trainer: tf_keras.Model,
                  checkpointed: Dict[str, object], data: DataBundle,
                  seed: int, epochs: int, workdir: str,
                  save_best: Callable[[str], None], best_path: str,
                  augment: Optional[Augment] = None,
                  monitor: str = "val_accuracy",
                  callbacks: Sequence[tf_keras.callbacks.Callback] = (),
                  max_steps: int = 0) -> Dict[str, float]:
  """Fits `trainer` for `epochs`, resuming from <workdir>/checkpoints/<stage>.

  `checkpointed` names what the checkpoint holds besides the loop state
  (network, optimizer); `save_best(path)` writes the state to keep when
  `monitor` improves; `max_steps` cuts each epoch short. Returns the best
  epoch and value, and the last epoch's logs (losses) when this call
  trained one.
  """
  state = {"epoch": tf.Variable(0, dtype=tf.int64),
           "best_value": tf.Variable(-float("inf"), dtype=tf.float64),
           "best_epoch": tf.Variable(0, dtype=tf.int64)}
  checkpoint = tf.train.Checkpoint(**checkpointed, **state)
  manager = tf.train.CheckpointManager(
      checkpoint, os.path.join(workdir, "checkpoints", stage), max_to_keep=2)
  if manager.latest_checkpoint:
    checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    print(f"{stage}: resuming after epoch {int(state['epoch'].numpy())} "
          f"from {manager.latest_checkpoint}", flush=True)

  first_epoch = int(state["epoch"].numpy())
  epoch_end = _EpochEnd(state, manager, save_best, best_path, monitor)
  if first_epoch < epochs:
    tb_dir = os.path.join(workdir, "tb", stage)
    trainer.fit(
        data.train(seed, augment, first_epoch, epochs - first_epoch,
                   max_steps),
        initial_epoch=first_epoch, epochs=epochs,
        steps_per_epoch=data.steps_per_epoch(max_steps),
        validation_data=data.evaluation("validation"),
        callbacks=[*callbacks,
                   tf_keras.callbacks.TensorBoard(tb_dir, write_graph=False,
                                                  profile_batch=0),
                   epoch_end],
        verbose=1 if sys.stdout.isatty() else 2)
  return {"best_epoch": int(state["best_epoch"].numpy()),
          f"best_{monitor}": float(state["best_value"].numpy()),
          "last_epoch_logs": epoch_end.last_logs}


def _suffix(path):
  for suffix in (".weights.h5", ".keras", ".npz", ".json"):
    if path.endswith(suffix):
      return suffix
  return ""
