"""One `tf.data` pipeline for every source: images in [0, 1] at the model's
input size, batched and prefetched; training batches shuffled and augmented
deterministically from (seed, epoch) so a resumed run sees the same data."""

import dataclasses
from typing import Callable, List, Optional, Tuple

import tensorflow as tf

from csam_tf.data import fashion_mnist, image_folder
from csam_tf.data.config import DataConfig
from csam_tf.core.errors import UsageError

SHUFFLE_BUFFER = 10_000
# augment(images [B,H,W,C] float32 in [0,1], stateless seed [2]) -> images
Augment = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclasses.dataclass
class DataBundle:
  """The three splits of one dataset, ready for a model."""
  config: DataConfig
  num_classes: int
  input_shape: Tuple[int, int, int]
  class_names: List[str]
  _splits: dict  # split -> unbatched (uint8 or float image, int32 label)
  _in_memory: Optional[dict] = None  # split -> (x, y) numpy arrays
  _tensors: Optional[tuple] = None

  def train(self, seed: int, augment: Optional[Augment] = None,
            first_epoch: int = 0, epochs: int = 1,
            max_steps: int = 0) -> tf.data.Dataset:
    """Batches of `epochs` consecutive epochs starting at `first_epoch`,
    each cut to its first `max_steps` batches when that is set.

    Epoch e is shuffled and augmented from (seed, e) alone, so a run
    resumed at epoch e sees exactly the batches the uninterrupted run saw.
    In-memory data takes the epoch as a tensor: one pipeline is traced for
    every epoch (one an epoch, with augmentation, cost ~0.8 s an epoch
    before the first batch on a 2-core AVX2 CPU). A dataset source keeps
    one pipeline an epoch: its buffer shuffle needs a Python seed
    (TensorFlow's get_seed cannot take a tensor when the global seed is 0).
    """

    def one_epoch(epoch):
      one = self._one_epoch(int(seed), epoch, augment)
      return one.take(max_steps) if max_steps else one

    if self._in_memory is not None:
      return (tf.data.Dataset.range(first_epoch, first_epoch + epochs)
              .flat_map(one_epoch).prefetch(tf.data.AUTOTUNE))
    dataset = one_epoch(first_epoch)
    for epoch in range(first_epoch + 1, first_epoch + epochs):
      dataset = dataset.concatenate(one_epoch(epoch))
    return dataset.prefetch(tf.data.AUTOTUNE)

  def steps_per_epoch(self, max_steps: int = 0) -> int:
    """Training batches in one epoch (at most `max_steps` when set)."""
    cardinality = int(self._one_epoch(0, 0, None).cardinality().numpy())
    if cardinality < 0:
      cardinality = sum(1 for _ in self._one_epoch(0, 0, None))
    return min(cardinality, max_steps) if max_steps else cardinality

  def _one_epoch(self, seed: int, epoch, augment):
    """Epoch `epoch` of the training split (an int64 tensor for in-memory
    data, an int for a dataset source)."""
    epoch_seed = tf.stack([tf.constant(seed, tf.int64),
                           tf.cast(epoch, tf.int64)])
    batch_size = self.config.batch_size
    if self._in_memory is not None:
      images, labels = self._train_tensors()
      order = tf.random.experimental.stateless_shuffle(
          tf.range(tf.shape(labels)[0]), seed=epoch_seed)
      ds = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).map(
          lambda index: (tf.gather(images, index), tf.gather(labels, index)))
    else:
      ds = self._splits["train"].shuffle(
          SHUFFLE_BUFFER, seed=(seed * 1_000_003 + epoch) % 2**31,
          reshuffle_each_iteration=False).batch(batch_size)
    ds = ds.map(self._to_model_input, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    if augment is None:
      return ds

    def augment_batch(index, batch):
      images, labels = batch
      batch_seed = tf.random.experimental.stateless_fold_in(epoch_seed, index)
      return augment(images, batch_seed), labels

    return ds.enumerate().map(augment_batch,
                              num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)

  def _train_tensors(self):
    """The in-memory training arrays as tensors, made once and shared by
    every epoch's pipeline."""
    if self._tensors is None:
      with tf.init_scope():  # eager, also when first asked inside a trace
        self._tensors = tuple(tf.constant(a)
                              for a in self._in_memory["train"])
    return self._tensors

  def evaluation(self, split: str) -> tf.data.Dataset:
    """The `validation` or `test` split, batched, in a fixed order."""
    cfg = self.config
    if self._in_memory is not None:
      ds = tf.data.Dataset.from_tensor_slices(self._in_memory[split])
    else:
      ds = self._splits[split]
    return (ds.batch(cfg.eval_batch_size)
            .map(self._to_model_input, num_parallel_calls=tf.data.AUTOTUNE,
                 deterministic=True)
            .prefetch(tf.data.AUTOTUNE))

  def num_examples(self, split: str) -> Optional[int]:
    """Examples in a split when known without reading it (in-memory data)."""
    if self._in_memory is not None:
      return len(self._in_memory[split][1])
    return None

  def _to_model_input(self, images, labels):
    """Pixels in [0, 255] (every source) to [0, 1] at the input size."""
    images = tf.cast(images, tf.float32) / 255.0
    height, width, _ = self.input_shape
    if images.shape[1] != height or images.shape[2] != width:
      images = tf.image.resize(images, [height, width], antialias=True)
      images = tf.clip_by_value(images, 0.0, 1.0)
    return images, labels


def load(cfg: DataConfig) -> DataBundle:
  """Loads the configured dataset (the slow part: reads the files)."""
  if cfg.dataset == "fashion_mnist":
    arrays = fashion_mnist.load(cfg.data_dir or fashion_mnist.DEBIAN_DIR)
    arrays = _subsets(arrays, cfg)
    size = cfg.image_size or 28
    return DataBundle(cfg, 10, (size, size, 1),
                      list(fashion_mnist.CLASS_NAMES), {}, arrays)
  if cfg.dataset == "image_folder":
    splits, classes = image_folder.load_folder_splits(cfg.data_dir,
                                                      cfg.channels)
    if not cfg.image_size:
      raise UsageError("--dataset=image_folder needs --image_size (images "
                       "in a folder may differ in size)")
    return DataBundle(cfg, len(classes),
                      (cfg.image_size, cfg.image_size, cfg.channels), classes,
                      _resized_splits(splits, cfg))
  from csam_tf.data import tfds_loaders  # tfds is slow to import
  loaded = tfds_loaders.load_tfds(cfg.dataset, tfds_loaders.TfdsOptions(
      data_dir=cfg.data_dir or None, manual_dir=cfg.tfds_manual_dir,
      download=cfg.tfds_download, corruption=cfg.corruption,
      severity=cfg.severity, celeba_hq_resolution=cfg.celeba_hq_resolution,
      celeba_hq_attributes=cfg.celeba_hq_attributes,
      celeba_hq_attribute=cfg.celeba_hq_attribute))
  if cfg.image_size:
    size = (cfg.image_size, cfg.image_size)
  elif loaded.native_size:
    size = loaded.native_size
  else:
    raise UsageError(f"--dataset={cfg.dataset} has images of varying size: "
                     f"pass --image_size")
  return DataBundle(cfg, loaded.num_classes, (*size, loaded.channels),
                    [str(i) for i in range(loaded.num_classes)],
                    _resized_splits(loaded.splits, cfg, size))


def _subset_size(cfg, split):
  """--train_subset for train, --eval_subset for the others (0 = all)."""
  return cfg.train_subset if split == "train" else cfg.eval_subset


def _subsets(arrays, cfg):
  out = {}
  for split, (x, y) in arrays.items():
    n = _subset_size(cfg, split)
    out[split] = (x[:n], y[:n]) if n else (x, y)
  return out


def _resized_splits(splits, cfg, size=None):
  """Resizes each image before batching (sources of mixed sizes)."""
  size = size or (cfg.image_size, cfg.image_size)
  out = {}
  for split, ds in splits.items():
    n = _subset_size(cfg, split)
    if n:
      ds = ds.take(n)

    def resize(image, label):
      image = tf.image.resize(tf.cast(image, tf.float32), size,
                              antialias=True)
      return tf.clip_by_value(image, 0.0, 255.0), label

    out[split] = ds.map(resize, num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True)
  return out
