"""The image-folder loader on temporary folders of PNGs."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from csam_tf.data import image_folder, pipeline
from csam_tf.data.config import DataConfig
from csam_tf.core.errors import UsageError


def _write_pngs(root, classes, per_class, size=(10, 12)):
  for label, name in enumerate(classes):
    (root / name).mkdir(parents=True)
    for i in range(per_class):
      pixels = np.full((*size, 3), 20 * label + i, np.uint8)
      Image.fromarray(pixels).save(root / name / f"{i:03d}.png")


def test_splits_cover_every_file_once(tmp_path):
  _write_pngs(tmp_path, ["cat", "dog"], 10)
  splits, classes = image_folder.load_folder_splits(str(tmp_path), 3)
  assert classes == ["cat", "dog"]
  seen = []
  for ds in splits.values():
    for image, label in ds:
      assert image.dtype == tf.uint8 and image.shape == (10, 12, 3)
      seen.append((int(image[0, 0, 0]), int(label)))
  assert len(seen) == 20 and len(set(seen)) == 20
  # the pixel value encodes the class: 20 * label + i
  assert all(value // 20 == label for value, label in seen)
  assert [sum(1 for _ in splits[s]) for s in ("train", "validation", "test")
          ] == [16, 2, 2]


def test_train_test_layout_is_respected(tmp_path):
  _write_pngs(tmp_path / "train", ["a", "b"], 10)
  _write_pngs(tmp_path / "test", ["a", "b"], 3)
  splits, _ = image_folder.load_folder_splits(str(tmp_path), 1)
  assert [sum(1 for _ in splits[s]) for s in ("train", "validation", "test")
          ] == [18, 2, 6]


def test_pipeline_resizes_scales_and_batches(tmp_path):
  _write_pngs(tmp_path, ["a", "b", "c"], 6)
  data = pipeline.load(DataConfig(dataset="image_folder",
                                  data_dir=str(tmp_path), image_size=8,
                                  batch_size=4, channels=3))
  assert data.num_classes == 3 and data.input_shape == (8, 8, 3)
  assert data.class_names == ["a", "b", "c"]
  images, labels = next(iter(data.train(seed=0)))
  assert images.shape == (4, 8, 8, 3) and images.dtype == tf.float32
  # flat images stay flat through the resize: value (20 * label + i) / 255
  assert float(tf.reduce_max(images)) <= 45 / 255 + 1e-6


def test_one_class_is_refused(tmp_path):
  _write_pngs(tmp_path, ["only"], 3)
  with pytest.raises(UsageError, match="at least 2"):
    image_folder.list_class_files(str(tmp_path))


def test_unreadable_image_is_named(tmp_path):
  _write_pngs(tmp_path, ["a", "b"], 2)
  (tmp_path / "b" / "broken.png").write_bytes(b"not a png at all")
  with pytest.raises(UsageError, match="broken.png is not a PNG or JPEG"):
    image_folder.list_class_files(str(tmp_path))


def test_missing_folder(tmp_path):
  with pytest.raises(UsageError, match="does not exist"):
    image_folder.list_class_files(str(tmp_path / "nope"))
