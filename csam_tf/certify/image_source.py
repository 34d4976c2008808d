"""The images `python -m csam_tf.certify --model=PATH` certifies:
`--data=fashion_mnist` (or another built-in dataset's split),
`--data=DIR` (an image folder, class/*.png|jpg: every image, classes
numbered in sorted order) or `--data=FILE.npz` (arrays `images`, NHWC
uint8 or float in [0, 1], and `labels`). `check` needs no TensorFlow."""

import os
import random
from typing import Tuple

import numpy as np

from csam_tf.data import config as data_config
from csam_tf.data import image_folder
from csam_tf.core.errors import UsageError

_ORDER_SEED = 1234


def check(spec: str) -> str:
  """'dataset', 'folder' or 'npz' for a --data value that can be read."""
  if spec in data_config.DATASETS and spec != "image_folder":
    data_config.check_data_available(data_config.DataConfig(dataset=spec))
    return "dataset"
  if spec.endswith(".npz"):
    if not os.path.isfile(spec):
      raise UsageError(f"--data={spec} does not exist")
    return "npz"
  if os.path.isdir(spec):
    image_folder.list_class_files(spec)  # two classes, readable headers
    return "folder"
  raise UsageError(f"--data={spec} is not a dataset name "
                   f"({', '.join(d for d in data_config.DATASETS if d != 'image_folder')}), "
                   f"an image folder or a .npz file")


def load(spec: str, kind: str, split: str, count: int,
         image_shape: Tuple[int, ...], resize_arrays: bool = False
         ) -> Tuple[np.ndarray, np.ndarray]:
  """The first `count` (images float32 NHWC in [0, 1], integer labels);
  a folder's images are resized to `image_shape` (H, W, C) and given its
  channels, a .npz's resized only when `resize_arrays` (--image_size)."""
  if kind == "dataset":
    from csam_tf.certify import certificate as certify_certificate  # pylint: disable=import-outside-toplevel
    from csam_tf.data import pipeline  # pylint: disable=import-outside-toplevel
    # (at the native size the pipeline leaves the images as they are)
    data = pipeline.load(data_config.DataConfig(dataset=spec,
                                                image_size=image_shape[0]))
    return certify_certificate.first_images(data, count, split)
  if kind == "npz":
    images, labels = _npz(spec, count)
    if resize_arrays and images.shape[1:3] != tuple(image_shape[:2]):
      import tensorflow as tf  # pylint: disable=import-outside-toplevel
      images = tf.clip_by_value(tf.image.resize(images, image_shape[:2]),
                                0.0, 1.0).numpy()
    return images, labels
  return _folder(spec, count, image_shape)


def _npz(path, count):
  try:
    arrays = np.load(path)
    images, labels = arrays["images"], arrays["labels"]
  except KeyError as e:
    raise UsageError(f"--data={path} has no array {e}: save it with "
                     f"np.savez(path, images=..., labels=...)") from None
  except (OSError, ValueError) as e:
    raise UsageError(f"--data={path} cannot be read as .npz: {e}") from None
  if images.ndim != 4:
    raise UsageError(f"--data={path}: images must be NHWC (4 dimensions), "
                     f"not shape {images.shape}")
  if len(labels) != len(images) or labels.ndim != 1:
    raise UsageError(f"--data={path}: labels must be one integer per image "
                     f"({len(images)} images, labels of shape "
                     f"{labels.shape})")
  if not np.issubdtype(labels.dtype, np.integer):
    raise UsageError(f"--data={path}: labels must be integers, not "
                     f"{labels.dtype}")
  if images.dtype == np.uint8:
    images = images.astype(np.float32) / 255.0
  elif np.issubdtype(images.dtype, np.floating):
    if images.min() < 0 or images.max() > 1:
      raise UsageError(f"--data={path}: float images must be in [0, 1], "
                       f"these are in [{images.min():.3g}, "
                       f"{images.max():.3g}]")
    images = images.astype(np.float32)
  else:
    raise UsageError(f"--data={path}: images must be uint8 or float in "
                     f"[0, 1], not {images.dtype}")
  return images[:count], labels[:count].astype(np.int64)


def _folder(root, count, image_shape):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  _, files = image_folder.list_class_files(root)
  # a fixed shuffle, so the first `count` images are not all of one class
  random.Random(_ORDER_SEED).shuffle(files)
  images, labels = [], []
  for path, label in files[:count]:
    image = tf.io.decode_image(tf.io.read_file(path),
                               channels=image_shape[-1],
                               expand_animations=False)
    image = tf.image.resize(tf.image.convert_image_dtype(image, tf.float32),
                            image_shape[:2])
    images.append(tf.clip_by_value(image, 0.0, 1.0).numpy())
    labels.append(label)
  return np.stack(images), np.asarray(labels, np.int64)
