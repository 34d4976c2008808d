"""Stage 1: cross-entropy pre-training of the dense network on batches
augmented with the semantic transformations.

Checkpoints every epoch (network, optimizer, epoch, best validation
accuracy) and resumes from the last one; the data order of epoch e depends
only on (seed, e), so a resumed run trains on what the uninterrupted run
would have. The best validation weights are what later stages start from.
"""

import os
import sys
import time
from typing import Any, Dict

import tensorflow as tf
import tf_keras

from csam_tf import atomic_io, transforms
from csam_tf.data.pipeline import DataBundle
from csam_tf.transform_ranges import family_ranges
from trainers.pretrain_config import PretrainConfig

STAGE = "pretrain"
BEST_WEIGHTS = os.path.join(STAGE, "best.weights.h5")
MODEL_FILE = os.path.join(STAGE, "model.keras")
NUM_SAMPLE_IMAGES = 8


class CrossEntropyTrainer(tf_keras.Model):
  """Wraps the network; `train_step` is plain cross-entropy."""

  def __init__(self, network: tf_keras.Model, **kwargs):
    super().__init__(**kwargs)
    self.network = network
    self.loss_tracker = tf_keras.metrics.Mean(name="loss")
    self.accuracy = tf_keras.metrics.SparseCategoricalAccuracy(
        name="accuracy")

  @property
  def metrics(self):
    return [self.loss_tracker, self.accuracy]

  def call(self, images, training=False):
    return self.network(images, training=training)

  def train_step(self, data):
    images, labels = data
    with tf.GradientTape() as tape:
      logits = self.network(images, training=True)
      loss = cross_entropy(labels, logits)
    variables = self.network.trainable_variables
    self.optimizer.apply_gradients(zip(tape.gradient(loss, variables),
                                       variables))
    return self._update_metrics(loss, labels, logits)

  def test_step(self, data):
    images, labels = data
    logits = self.network(images, training=False)
    return self._update_metrics(cross_entropy(labels, logits), labels, logits)

  def _update_metrics(self, loss, labels, logits):
    self.loss_tracker.update_state(loss)
    self.accuracy.update_state(labels, logits)
    return {m.name: m.result() for m in self.metrics}


def cross_entropy(labels, logits):
  """Mean sparse softmax cross-entropy."""
  return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int32), logits=logits))


def make_optimizer(cfg: PretrainConfig, steps_per_epoch: int):
  """SGD-Nesterov or AdamW with a cosine schedule (optional linear warm-up);
  weight decay is decoupled and skips BatchNorm parameters and biases."""
  total = max(1, cfg.epochs * steps_per_epoch)
  warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
  if warmup:
    schedule = tf_keras.optimizers.schedules.CosineDecay(
        0.0, max(1, total - warmup), warmup_target=cfg.learning_rate,
        warmup_steps=warmup)
  else:
    schedule = tf_keras.optimizers.schedules.CosineDecay(cfg.learning_rate,
                                                         total)
  if cfg.optimizer == "sgd":
    optimizer = tf_keras.optimizers.SGD(
        schedule, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
        weight_decay=cfg.weight_decay or None)
  else:
    optimizer = tf_keras.optimizers.Adam(
        schedule, weight_decay=cfg.weight_decay or None)
  if cfg.weight_decay:
    optimizer.exclude_from_weight_decay(var_names=["_bn/", "bias"])
  return optimizer


class _EpochEnd(tf_keras.callbacks.Callback):
  """Keeps the best validation weights, then checkpoints the epoch."""

  def __init__(self, state, manager, best_path):
    super().__init__()
    self._state, self._manager, self._best_path = state, manager, best_path

  def on_epoch_end(self, epoch, logs=None):
    accuracy = float(logs["val_accuracy"])
    if accuracy > float(self._state["best_val_accuracy"].numpy()):
      self._state["best_val_accuracy"].assign(accuracy)
      self._state["best_epoch"].assign(epoch + 1)
      network = self.model.network
      atomic_io.write_atomically(
          self._best_path, network.save_weights, suffix=".weights.h5")
    self._state["epoch"].assign(epoch + 1)
    self._manager.save(checkpoint_number=epoch + 1)


def run_pretrain(network: tf_keras.Model, data: DataBundle,
                 cfg: PretrainConfig, workdir: str, seed: int
                 ) -> Dict[str, Any]:
  """Trains `network` in place; returns the stage's metrics for report.json.

  On return `network` holds the best validation weights.
  """
  start = time.time()
  augment = None
  if cfg.augment_family != "none":
    augment = transforms.augmenter(
        family_ranges(cfg.augment_family, cfg.augment_level,
                      cfg.augment_ranges), cfg.augment_prob)
  steps_per_epoch = data.steps_per_epoch()
  trainer = CrossEntropyTrainer(network)
  optimizer = make_optimizer(cfg, steps_per_epoch)
  trainer.compile(optimizer=optimizer)
  optimizer.build(network.trainable_variables)

  state = {"epoch": tf.Variable(0, dtype=tf.int64),
           "best_val_accuracy": tf.Variable(-1.0, dtype=tf.float64),
           "best_epoch": tf.Variable(0, dtype=tf.int64)}
  checkpoint = tf.train.Checkpoint(network=network, optimizer=optimizer,
                                   **state)
  manager = tf.train.CheckpointManager(
      checkpoint, os.path.join(workdir, "checkpoints", STAGE), max_to_keep=2)
  if manager.latest_checkpoint:
    checkpoint.restore(manager.latest_checkpoint).assert_consumed()
    print(f"pretrain: resuming after epoch {int(state['epoch'].numpy())} "
          f"from {manager.latest_checkpoint}", flush=True)

  tb_dir = os.path.join(workdir, "tb", STAGE)
  callbacks = [
      _SampleImages(data, seed, augment, os.path.join(tb_dir, "samples")),
      tf_keras.callbacks.TensorBoard(tb_dir, write_graph=False,
                                     profile_batch=0),
      _EpochEnd(state, manager, os.path.join(workdir, BEST_WEIGHTS)),
  ]
  first_epoch = int(state["epoch"].numpy())
  validation = data.evaluation("validation")
  if first_epoch < cfg.epochs:
    trainer.fit(data.train(seed, augment, first_epoch,
                           cfg.epochs - first_epoch),
                initial_epoch=first_epoch, epochs=cfg.epochs,
                steps_per_epoch=steps_per_epoch, validation_data=validation,
                callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)

  network.load_weights(os.path.join(workdir, BEST_WEIGHTS))
  atomic_io.write_atomically(os.path.join(workdir, MODEL_FILE), network.save,
                             suffix=".keras")
  val = trainer.evaluate(validation, return_dict=True, verbose=0)
  test = trainer.evaluate(data.evaluation("test"), return_dict=True,
                          verbose=0)
  return {
      "epochs": cfg.epochs,
      "best_epoch": int(state["best_epoch"].numpy()),
      "validation_accuracy": float(val["accuracy"]),
      "test_accuracy": float(test["accuracy"]),
      "test_loss": float(test["loss"]),
      "steps_per_epoch": steps_per_epoch,
      "parameters": int(network.count_params()),
      "wall_seconds_this_invocation": round(time.time() - start, 1),
      "best_weights": BEST_WEIGHTS,
      "model": MODEL_FILE,
  }


class _SampleImages(tf_keras.callbacks.Callback):
  """Logs the epoch's first training images, clean and transformed."""

  def __init__(self, data, seed, augment, log_dir):
    super().__init__()
    self._data, self._seed, self._augment = data, seed, augment
    self._writer = tf.summary.create_file_writer(log_dir)

  def on_epoch_begin(self, epoch, logs=None):
    with self._writer.as_default():
      for name, augment in (("clean", None), ("augmented", self._augment)):
        images, _ = next(iter(self._data.train(self._seed, augment, epoch)))
        tf.summary.image(name, images[:NUM_SAMPLE_IMAGES], step=epoch,
                         max_outputs=NUM_SAMPLE_IMAGES)
    self._writer.flush()
