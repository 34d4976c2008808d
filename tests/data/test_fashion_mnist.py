"""Fashion-MNIST from Debian's files: real shapes, label counts, split."""

import gzip
import os
import shutil

import numpy as np
import pytest

from csam_tf.data import fashion_mnist
from csam_tf.core.errors import UsageError

from conftest import FASHION_MNIST_DIR


@pytest.fixture(scope="module")
def arrays():
  return fashion_mnist.load(FASHION_MNIST_DIR)


def test_shapes_and_protocol_split(arrays):
  assert arrays["train"][0].shape == (55000, 28, 28, 1)
  assert arrays["validation"][0].shape == (5000, 28, 28, 1)
  assert arrays["test"][0].shape == (10000, 28, 28, 1)
  assert arrays["train"][0].dtype == np.uint8
  assert arrays["train"][1].dtype == np.int32


def test_label_counts(arrays):
  # 6,000 per class in the 60,000 training images, 1,000 per class in test
  train_and_val = np.concatenate([arrays["train"][1], arrays["validation"][1]])
  np.testing.assert_array_equal(np.bincount(train_and_val), [6000] * 10)
  np.testing.assert_array_equal(np.bincount(arrays["test"][1]), [1000] * 10)


def test_validation_is_the_last_5000_training_images(arrays):
  x = fashion_mnist.read_idx(os.path.join(FASHION_MNIST_DIR,
                                          "train-images-idx3-ubyte.gz"))
  np.testing.assert_array_equal(arrays["validation"][0][..., 0], x[-5000:])
  np.testing.assert_array_equal(arrays["train"][0][..., 0], x[:-5000])


def test_missing_folder_says_how_to_get_the_files(tmp_path):
  with pytest.raises(UsageError, match="apt-get install dataset-fashion-mnist"
                     ".*--data_dir"):
    fashion_mnist.load(str(tmp_path))


def test_truncated_file_is_reported(tmp_path):
  for images, labels in fashion_mnist._FILES.values():
    for name in (images, labels):
      shutil.copy(os.path.join(FASHION_MNIST_DIR, name), tmp_path / name)
  name = "t10k-labels-idx1-ubyte.gz"
  with gzip.open(os.path.join(FASHION_MNIST_DIR, name), "rb") as src:
    data = src.read()
  with gzip.open(tmp_path / name, "wb") as dst:
    dst.write(data[:-10])
  with pytest.raises(UsageError, match="t10k-labels.*truncated"):
    fashion_mnist.load(str(tmp_path))


def test_a_file_that_is_not_idx_is_reported(tmp_path):
  path = tmp_path / "bad.gz"
  with gzip.open(path, "wb") as f:
    f.write(b"hello world")
  with pytest.raises(UsageError, match="not an IDX file"):
    fashion_mnist.read_idx(str(path))
