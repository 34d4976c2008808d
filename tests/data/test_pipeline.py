"""The shared tf.data pipeline on Fashion-MNIST: scaling, batching,
subsets, and epoch-wise determinism (what resuming relies on)."""

import numpy as np
import pytest
import tensorflow as tf

from csam_tf.transforms import semantic as transforms
from csam_tf.data import pipeline
from csam_tf.data.config import DataConfig
from csam_tf.transforms.ranges import family_ranges


@pytest.fixture(scope="module")
def data():
  return pipeline.load(DataConfig(train_subset=300, eval_subset=100,
                                  batch_size=64, eval_batch_size=50))


def _labels(ds):
  return np.concatenate([y.numpy() for _, y in ds])


def test_shapes_scaling_and_subsets(data):
  assert data.input_shape == (28, 28, 1) and data.num_classes == 10
  assert data.num_examples("train") == 300
  assert data.num_examples("test") == 100
  assert data.steps_per_epoch() == 5
  images, labels = next(iter(data.train(seed=0)))
  assert images.shape == (64, 28, 28, 1) and images.dtype == tf.float32
  assert labels.dtype == tf.int32
  test = list(data.evaluation("test"))
  assert [len(y) for _, y in test] == [50, 50]
  pixels = np.concatenate([x.numpy() for x, _ in test])
  assert pixels.min() == 0.0 and pixels.max() == 1.0
  # 255 levels: every pixel is a multiple of 1/255
  np.testing.assert_allclose(pixels * 255, np.round(pixels * 255), atol=1e-4)


def test_an_epoch_is_a_permutation_of_the_subset(data):
  labels = _labels(data.train(seed=0))
  assert len(labels) == 300
  np.testing.assert_array_equal(np.sort(labels),
                                np.sort(data._in_memory["train"][1]))


def test_in_memory_epochs_share_one_traced_pipeline(data):
  """The epoch is a tensor: however many epochs, the augmentation is traced
  once (once an epoch before: ~0.8 s each on a 2-core AVX2 CPU)."""
  composite = transforms.augmenter(family_ranges("composite", "L2"), 0.5)
  traces = []

  def augment(images, seed):
    traces.append(seed)  # Python runs once per trace
    return composite(images, seed)

  batches = list(data.train(seed=3, augment=augment, first_epoch=1,
                            epochs=4))
  assert len(batches) == 20 and len(traces) == 1


def test_epochs_depend_only_on_seed_and_epoch(data):
  augment = transforms.augmenter(family_ranges("composite", "L2"), 0.5)
  two_epochs = list(data.train(seed=3, augment=augment, first_epoch=0,
                               epochs=2))
  resumed = list(data.train(seed=3, augment=augment, first_epoch=1))
  assert len(two_epochs) == 10 and len(resumed) == 5
  for (x1, y1), (x2, y2) in zip(two_epochs[5:], resumed):
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
  epoch0 = np.concatenate([y.numpy() for _, y in two_epochs[:5]])
  epoch1 = np.concatenate([y.numpy() for _, y in two_epochs[5:]])
  assert not np.array_equal(epoch0, epoch1)  # reshuffled each epoch
  other_seed = _labels(data.train(seed=4))
  assert not np.array_equal(epoch0, other_seed)
