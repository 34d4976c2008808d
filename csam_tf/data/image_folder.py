"""An image folder `root/<class_name>/*.png|jpg` as a classification dataset.

With `root/train/<class>` and `root/test/<class>` the given split is kept
and validation is 10% of train; otherwise the files are split 80/10/10.
Splits depend only on the file list (fixed shuffle seed), never on --seed,
so the test set does not move between runs.
"""

import os
import random
from typing import Dict, List, Sequence, Tuple

from csam_tf.core.errors import UsageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
_SPLIT_SEED = 1234


def list_class_files(root: str) -> Tuple[List[str], List[Tuple[str, int]]]:
  """Sorted class names and (path, label) pairs; checks every file's header
  so an unreadable image fails here, not hours into training."""
  if not os.path.isdir(root):
    raise UsageError(f"image folder {root} does not exist; pass "
                     f"--data_dir=<folder with one sub-folder per class>")
  classes = sorted(d for d in os.listdir(root)
                   if os.path.isdir(os.path.join(root, d)))
  files = []
  for label, name in enumerate(classes):
    folder = os.path.join(root, name)
    for file_name in sorted(os.listdir(folder)):
      if file_name.lower().endswith(IMAGE_EXTENSIONS):
        path = os.path.join(folder, file_name)
        _check_header(path)
        files.append((path, label))
  classes_with_files = {label for _, label in files}
  if len(classes_with_files) < 2:
    raise UsageError(f"image folder {root} has {len(classes_with_files)} "
                     f"class(es) with .png/.jpg images; a classifier needs "
                     f"at least 2 sub-folders with images")
  return classes, files


def split_files(root: str) -> Tuple[List[str], Dict[str, List]]:
  """Class names and the (path, label) pairs of each split; every file's
  header checked. Pure Python: `check_data_available` calls it before
  TensorFlow loads."""
  train_dir, test_dir = os.path.join(root, "train"), os.path.join(root, "test")
  if os.path.isdir(train_dir) and os.path.isdir(test_dir):
    classes, train_files = list_class_files(train_dir)
    test_classes, test_files = list_class_files(test_dir)
    if test_classes != classes:
      raise UsageError(f"{train_dir} and {test_dir} hold different classes")
    train_files, val_files = _split(train_files, (0.9,))
  else:
    classes, files = list_class_files(root)
    train_files, val_files, test_files = _split(files, (0.8, 0.9))
  return classes, {"train": train_files, "validation": val_files,
                   "test": test_files}


def load_folder_splits(root: str, channels: int):
  """Unbatched (uint8 image, int32 label) datasets per split, class names."""
  classes, splits = split_files(root)
  return ({name: _dataset(files, channels) for name, files in splits.items()},
          classes)


def _split(files: Sequence, cuts: Sequence[float]):
  files = list(files)
  random.Random(_SPLIT_SEED).shuffle(files)
  bounds = [0] + [int(round(c * len(files))) for c in cuts] + [len(files)]
  return [files[a:b] for a, b in zip(bounds, bounds[1:])]


def _dataset(files, channels):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top (see split_files)
  paths = [p for p, _ in files]
  labels = [label for _, label in files]

  def decode(path, label):
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                               expand_animations=False)
    return image, label

  ds = tf.data.Dataset.from_tensor_slices(
      (tf.constant(paths, tf.string), tf.constant(labels, tf.int32)))
  return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)


def _check_header(path):
  try:
    with open(path, "rb") as f:
      head = f.read(8)
  except OSError as e:
    raise UsageError(f"cannot read image {path}: {e.strerror}") from None
  if not any(head.startswith(sig) for sig in _SIGNATURES):
    raise UsageError(f"{path} is not a PNG or JPEG image; remove it or "
                     f"convert it")
