"""The epoch loop every stage shares: `fit` with a checkpoint per epoch,
resumption from the last one, the best validation state kept on disk, and
TensorBoard logs under <workdir>/tb/<stage>."""

import math
import os
import sys
import time
from typing import Callable, Dict, Optional, Sequence

import tensorflow as tf
import tf_keras

from csam_tf.core import atomic_io, fault_injection
from csam_tf.core import workdir as workdir_lib
from csam_tf.data.pipeline import Augment, DataBundle
from csam_tf.core.errors import RunError


class _StopOnNonFinite(tf_keras.callbacks.Callback):
  """Stops at the first step whose losses are NaN or infinite and remembers
  where, so the epoch is not checkpointed and the stage can say so."""

  def __init__(self, steps_per_epoch):
    super().__init__()
    self._steps_per_epoch = steps_per_epoch
    self._epoch = 0
    self.failure = None

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    values = {k: float(v) for k, v in (logs or {}).items()}
    if self.failure is None and not all(math.isfinite(v)
                                        for v in values.values()):
      self.failure = (self._epoch, self._epoch * self._steps_per_epoch +
                      batch + 1, values)
      self.model.stop_training = True


class _EpochEnd(tf_keras.callbacks.Callback):
  """Saves the best state so far, then checkpoints the finished epoch
  (never an epoch that produced a non-finite loss)."""

  def __init__(self, stage, state, manager, save_best, best_path, monitor,
               guard, clock):
    super().__init__()
    self._stage = stage
    self._state, self._manager = state, manager
    self._save_best, self._best_path = save_best, best_path
    self._monitor = monitor
    self._guard = guard
    self._clock = clock
    self.last_logs = {}

  def on_epoch_end(self, epoch, logs=None):
    if self._guard.failure is not None:
      return
    self.last_logs = {k: float(v) for k, v in (logs or {}).items()}
    value = float(logs[self._monitor])
    if value > float(self._state["best_value"].numpy()):
      self._state["best_value"].assign(value)
      self._state["best_epoch"].assign(epoch + 1)
      atomic_io.write_atomically(self._best_path, self._save_best,
                                 suffix=_suffix(self._best_path))
    self._state["epoch"].assign(epoch + 1)
    _write_times(self._manager.directory, epoch + 1, self._clock.totals())
    self._manager.save(checkpoint_number=epoch + 1)
    fault_injection.kill_point(f"{self._stage}:epoch{epoch + 1}")


class _TrainingClock:
  """The stage's training time (wall and this process's CPU seconds) over
  all its invocations, up to each checkpoint: each checkpoint has the
  totals beside it (times-<epoch>.json), so a resumed stage can report
  what its earlier invocations cost (not the part of an epoch a kill
  lost). `earlier` is None after a checkpoint written without them."""

  def __init__(self, earlier: Optional[Dict[str, float]]):
    self.earlier = earlier
    self._start = _now()

  def totals(self) -> Optional[Dict[str, float]]:
    """The earlier totals plus this invocation's (None: unknown)."""
    if self.earlier is None:
      return None
    now = _now()
    return {name: self.earlier[name] + now[name] - self._start[name]
            for name in now}


# What `_TrainingClock` totals, by its report names.
_TIME_NAMES = ("wall_seconds", "cpu_seconds")


def _now() -> Dict[str, float]:
  return dict(zip(_TIME_NAMES, (time.time(), time.process_time())))


def _times_path(directory: str, epoch: int) -> str:
  return os.path.join(directory, f"times-{epoch}.json")


def _write_times(directory, epoch, totals):
  if totals is not None:
    atomic_io.write_json(_times_path(directory, epoch),
                         {k: round(v, 1) for k, v in totals.items()})


def _read_times(directory, epoch) -> Optional[Dict[str, float]]:
  """The training totals up to checkpoint `epoch` (zeros for a fresh
  start; None when that checkpoint has none beside it)."""
  if not epoch:
    return {name: 0.0 for name in _TIME_NAMES}
  try:
    times = atomic_io.read_json(_times_path(directory, epoch), {})
    return {name: float(times[name]) for name in _TIME_NAMES}
  except (ValueError, KeyError, TypeError):  # none, or not ours
    return None


def resume_record(fitted: Dict[str, object]) -> Dict[str, object]:
  """A stage report's resume fields from what `resumable_fit` returned:
  the epoch it resumed after and, when known, the wall and CPU seconds its
  earlier invocations trained for up to that checkpoint."""
  return {key: fitted[key] for key in ("resumed_after_epoch",
                                       "earlier_invocations")
          if key in fitted}


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
  epoch and value, the last epoch's logs (losses) when this call trained
  one, and the epoch it resumed after (0: a fresh start; the stage's
  wall time then covers this invocation only, and `earlier_invocations`
  the training seconds, wall and CPU, before it: `resume_record`).
  """
  state = {"epoch": tf.Variable(0, dtype=tf.int64),
           "best_value": tf.Variable(-float("inf"), dtype=tf.float64),
           "best_epoch": tf.Variable(0, dtype=tf.int64)}
  checkpoint = tf.train.Checkpoint(**checkpointed, **state)
  manager = tf.train.CheckpointManager(
      checkpoint, os.path.join(workdir, "checkpoints", stage), max_to_keep=2)
  _restore_latest_readable(stage, checkpoint, manager, state)

  first_epoch = int(state["epoch"].numpy())
  clock = _TrainingClock(_read_times(manager.directory, first_epoch))
  guard = _StopOnNonFinite(data.steps_per_epoch(max_steps))
  epoch_end = _EpochEnd(stage, state, manager, save_best, best_path,
                        monitor, guard, clock)
  if first_epoch < epochs:
    tb_dir = os.path.join(workdir, workdir_lib.TENSORBOARD, stage)
    trainer.fit(
        data.train(seed, augment, first_epoch, epochs - first_epoch,
                   max_steps),
        initial_epoch=first_epoch, epochs=epochs,
        steps_per_epoch=data.steps_per_epoch(max_steps),
        validation_data=data.evaluation("validation"),
        callbacks=[guard, *callbacks,
                   tf_keras.callbacks.TensorBoard(tb_dir, write_graph=False,
                                                  profile_batch=0),
                   epoch_end],
        verbose=1 if sys.stdout.isatty() else 2)
  if guard.failure is not None:
    epoch, step, values = guard.failure
    terms = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
    kept = int(state["epoch"].numpy())
    raise RunError(
        f"{stage}: non-finite loss at step {step} (epoch {epoch + 1}): "
        f"{terms}; stopped without checkpointing that epoch ("
        + (f"the checkpoint of epoch {kept} in {manager.directory} is kept"
           if kept else "no epoch had finished: there is no checkpoint yet")
        + "). Lower the learning rate (in a new --workdir) or check the data")
  fitted = {"best_epoch": int(state["best_epoch"].numpy()),
            f"best_{monitor}": float(state["best_value"].numpy()),
            "last_epoch_logs": epoch_end.last_logs,
            "resumed_after_epoch": first_epoch}
  if first_epoch and clock.earlier is not None:
    fitted["earlier_invocations"] = dict(clock.earlier)
  return fitted


def _restore_latest_readable(stage, checkpoint, manager, state):
  """Restores the newest checkpoint that reads back; a truncated or corrupt
  one (a crash while writing, a full disk) falls back to the one before."""
  errors = []
  candidates = list(reversed(manager.checkpoints))
  if manager.latest_checkpoint and manager.latest_checkpoint not in candidates:
    candidates.insert(0, manager.latest_checkpoint)
  for path in candidates:
    try:
      checkpoint.restore(path).assert_existing_objects_matched()
    except Exception as e:  # pylint: disable=broad-except (any unreadable file)
      errors.append(f"{os.path.basename(path)}: "
                    f"{str(e).strip().splitlines()[0][:200]}")
      print(f"{stage}: cannot read checkpoint {path} ({errors[-1]}); trying "
            f"an older one", flush=True)
      continue
    print(f"{stage}: resuming after epoch {int(state['epoch'].numpy())} "
          f"from {path}", flush=True)
    return
  if errors:
    raise RunError(
        f"{stage}: no readable checkpoint in {manager.directory} "
        f"({'; '.join(errors)}); delete that folder to restart the stage "
        f"from its beginning")


def _suffix(path):
  for suffix in (".weights.h5", ".keras", ".npz", ".json"):
    if path.endswith(suffix):
      return suffix
  return ""
