"""tfds loaders through `tfds.testing.mock_data`: nothing is downloaded."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from csam_tf.data import pipeline, tfds_loaders
from csam_tf.data.config import DataConfig
from csam_tf.core.errors import UsageError


def _first_batch(data, split="test"):
  return next(iter(data.evaluation(split)))


@pytest.mark.parametrize("dataset", ["cifar10", "cifar10_corrupted"])
def test_cifar(dataset, tmp_path):
  with tfds.testing.mock_data(num_examples=6):
    data = pipeline.load(DataConfig(dataset=dataset, data_dir=str(tmp_path),
                                    eval_batch_size=6, batch_size=3))
    assert data.num_classes == 10 and data.input_shape == (32, 32, 3)
    images, labels = _first_batch(data)
    train_images, _ = next(iter(data.train(seed=0)))
  assert images.shape == (6, 32, 32, 3) and images.dtype == tf.float32
  assert train_images.shape == (3, 32, 32, 3)
  assert 0.0 <= float(tf.reduce_min(images)) <= float(tf.reduce_max(images)
                                                      ) <= 1.0
  assert labels.dtype == tf.int32
  assert set(labels.numpy()) <= set(range(10))


def test_cifar10_corrupted_reads_the_configured_corruption(monkeypatch):
  names = []
  real_load = tfds.load

  def spy(name, **kwargs):
    names.append((name, kwargs["split"]))
    return real_load(name, **kwargs)

  monkeypatch.setattr(tfds, "load", spy)
  with tfds.testing.mock_data(num_examples=2):
    tfds_loaders.load_tfds("cifar10_corrupted", tfds_loaders.TfdsOptions(
        corruption="fog", severity=3))
  assert ("cifar10", "train[:-5000]") in names
  assert ("cifar10", "train[-5000:]") in names
  assert ("cifar10_corrupted/fog_3", "test") in names


def test_oxford_flowers102_resized_to_image_size(tmp_path):
  with tfds.testing.mock_data(num_examples=4):
    data = pipeline.load(DataConfig(dataset="oxford_flowers102",
                                    image_size=24, eval_batch_size=4))
    images, labels = _first_batch(data, "validation")
  assert data.num_classes == 102
  assert images.shape == (4, 24, 24, 3)
  assert set(labels.numpy()) <= set(range(102))


def test_oxford_flowers102_needs_image_size():
  with tfds.testing.mock_data(num_examples=2):
    with pytest.raises(UsageError, match="--image_size"):
      pipeline.load(DataConfig(dataset="oxford_flowers102"))


def test_celeb_a_hq_labels_come_from_the_attribute_file(tmp_path):
  attributes = tmp_path / "attributes.txt"
  attributes.write_text("4\nSmiling Male Young\n"
                        "0.jpg 1 -1 1\n1.jpg -1 1 1\n2.jpg 1 1 -1\n"
                        "3.jpg -1 -1 -1\n")

  def as_dataset(self, *args, **kwargs):
    del args, kwargs
    return tf.data.Dataset.from_generator(
        lambda: ({"image": np.full((16, 16, 3), i, np.uint8),
                  "image/filename": f"imgHQ{i:05d}.npy"} for i in range(4)),
        output_types=self.info.features.dtype,
        output_shapes=self.info.features.shape)

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    loaded = tfds_loaders.load_tfds("celeb_a_hq", tfds_loaders.TfdsOptions(
        celeba_hq_resolution=16, celeba_hq_attributes=str(attributes),
        celeba_hq_attribute="Male"))
    pairs = [(int(image[0, 0, 0]), int(label))
             for image, label in loaded.splits["train"]]
  assert loaded.num_classes == 2 and loaded.native_size == (16, 16)
  # image i has pixel value i; Male is -1, 1, 1, -1 for images 0..3
  assert pairs == [(0, 0), (1, 1), (2, 1), (3, 0)]


def test_celeb_a_hq_without_attributes_is_a_usage_error():
  with pytest.raises(UsageError, match="--celeba_hq_attributes"):
    tfds_loaders.load_tfds("celeb_a_hq", tfds_loaders.TfdsOptions())


def test_unknown_attribute_is_named(tmp_path):
  attributes = tmp_path / "attributes.txt"
  attributes.write_text("1\nSmiling Male\n0.jpg 1 -1\n")
  with pytest.raises(UsageError, match="--celeba_hq_attribute=Bald"):
    tfds_loaders.read_celeba_attributes(str(attributes), "Bald")


def test_missing_prepared_data_gives_a_usage_error(tmp_path):
  with pytest.raises(UsageError, match="tfds build cifar10"):
    tfds_loaders.load_tfds("cifar10", tfds_loaders.TfdsOptions(
        data_dir=str(tmp_path)))
