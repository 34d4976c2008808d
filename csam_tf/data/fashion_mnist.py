"""Fashion-MNIST from Debian's `dataset-fashion-mnist` IDX files.

Split per shared/PROTOCOL.md: the last 5,000 training images are the
validation split and are never used for fitting.
"""

import gzip
import os
from typing import Dict, Tuple

import numpy as np

from csam_tf.core.errors import UsageError

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
NUM_VALIDATION = 5000
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_HOW_TO_GET = (
    "install Debian's package (apt-get install dataset-fashion-mnist) or put "
    "the four *-idx?-ubyte.gz files of Fashion-MNIST in a folder and pass "
    "--data_dir=<folder>")


def check_files(data_dir: str = DEBIAN_DIR) -> None:
  """Raises UsageError naming the missing file and how to get it."""
  for images, labels in _FILES.values():
    for name in (images, labels):
      path = os.path.join(data_dir, name)
      if not os.path.isfile(path):
        raise UsageError(f"Fashion-MNIST file {path} not found: {_HOW_TO_GET}")


def read_idx(path: str) -> np.ndarray:
  """Reads a (gzipped) IDX file of unsigned bytes into an array."""
  opener = gzip.open if path.endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      data = f.read()
  except (OSError, EOFError) as e:
    raise UsageError(f"cannot read {path}: {e}; {_HOW_TO_GET}") from None
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
    raise UsageError(f"{path} is not an IDX file of unsigned bytes; "
                     f"{_HOW_TO_GET}")
  ndim = data[3]
  header = 4 + 4 * ndim
  dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
               for i in range(ndim))
  if len(data) != header + int(np.prod(dims)):
    raise UsageError(f"{path} is truncated: header says {dims}, file has "
                     f"{len(data) - header} bytes of data; {_HOW_TO_GET}")
  return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def load(data_dir: str = DEBIAN_DIR) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
  """Returns {'train', 'validation', 'test'}: (uint8 [N,28,28,1], int32 [N])."""
  check_files(data_dir)
  arrays = {}
  for split, (images, labels) in _FILES.items():
    x = read_idx(os.path.join(data_dir, images))[..., None]
    y = read_idx(os.path.join(data_dir, labels)).astype(np.int32)
    if len(x) != len(y):
      raise UsageError(f"{split} images ({len(x)}) and labels ({len(y)}) "
                       f"differ in number in {data_dir}")
    arrays[split] = (x, y)
  x, y = arrays.pop("train")
  arrays["train"] = (x[:-NUM_VALIDATION], y[:-NUM_VALIDATION])
  arrays["validation"] = (x[-NUM_VALIDATION:], y[-NUM_VALIDATION:])
  return arrays
