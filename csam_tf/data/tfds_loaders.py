"""The paper's datasets through tensorflow-datasets.

Nothing is downloaded unless the user asks (`download=True`): the default is
to read data the user already prepared in `data_dir`, so a machine without
network fails fast with a message instead of hanging.
"""

import dataclasses
import os
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from csam_tf.core.errors import UsageError

TFDS_DATASETS = ("cifar10", "cifar10_corrupted", "oxford_flowers102",
                 "celeb_a_hq")


@dataclasses.dataclass(frozen=True)
class TfdsOptions:
  """Where the data lives and which variant of a dataset to read."""
  data_dir: Optional[str] = None      # tfds data_dir (None: tfds default)
  manual_dir: Optional[str] = None    # manual downloads (celeb_a_hq tars)
  download: bool = False
  corruption: str = "brightness"      # cifar10_corrupted test corruption
  severity: int = 1                   # 1..5
  celeba_hq_resolution: int = 128
  celeba_hq_attributes: Optional[str] = None  # CelebAMask-HQ-attribute-anno.txt
  celeba_hq_attribute: str = "Male"


@dataclasses.dataclass(frozen=True)
class TfdsSplits:
  """What a dataset yields: one unbatched (uint8 image, int32 label) dataset
  per split, the class count, and the native image size (None: varies)."""
  splits: Dict[str, tf.data.Dataset]
  num_classes: int
  native_size: Optional[Tuple[int, int]]
  channels: int = 3


def load_tfds(dataset: str, options: TfdsOptions) -> TfdsSplits:
  """Train/validation/test of a tfds dataset, validation held out of train."""
  if dataset == "cifar10":
    return TfdsSplits(_cifar10_splits(options, test=("cifar10", "test")),
                      10, (32, 32))
  if dataset == "cifar10_corrupted":
    name = f"cifar10_corrupted/{options.corruption}_{options.severity}"
    return TfdsSplits(_cifar10_splits(options, test=(name, "test")),
                      10, (32, 32))
  if dataset == "oxford_flowers102":
    splits = {split: _load("oxford_flowers102", split, options)
              for split in ("train", "validation", "test")}
    return TfdsSplits({s: d.map(_image_label) for s, d in splits.items()},
                      102, None)
  if dataset == "celeb_a_hq":
    return _celeb_a_hq(options)
  raise UsageError(f"unknown tfds dataset {dataset!r}; choose one of "
                   f"{', '.join(TFDS_DATASETS)}")


def _cifar10_splits(options, test):
  """CIFAR-10 train minus its last 5,000 images, which are the validation
  split (as PROTOCOL.md does for Fashion-MNIST); `test` names the test set."""
  return {"train": _load("cifar10", "train[:-5000]", options).map(_image_label),
          "validation": _load("cifar10", "train[-5000:]",
                              options).map(_image_label),
          "test": _load(*test, options).map(_image_label)}


def _celeb_a_hq(options):
  """CelebA-HQ images with a binary attribute as the label.

  tfds' celeb_a_hq has images only; labels come from CelebAMask-HQ's
  attribute file, whose row i belongs to image imgHQ<i>. 80/10/10 split.
  """
  if not options.celeba_hq_attributes:
    raise UsageError("celeb_a_hq has no labels in tfds: pass "
                     "--celeba_hq_attributes=<CelebAMask-HQ-attribute-anno.txt>"
                     " and --celeba_hq_attribute=<name, e.g. Male>")
  labels = read_celeba_attributes(options.celeba_hq_attributes,
                                  options.celeba_hq_attribute)
  table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.range(len(labels), dtype=tf.int64),
          tf.constant(labels, tf.int32)), default_value=-1)

  def image_label(example):
    index = tf.strings.to_number(
        tf.strings.regex_replace(example["image/filename"],
                                 r"^.*?(\d+)\D*$", r"\1"), tf.int64)
    return example["image"], table.lookup(index)

  name = f"celeb_a_hq/{options.celeba_hq_resolution}"
  slices = {"train": "train[:80%]", "validation": "train[80%:90%]",
            "test": "train[90%:]"}
  splits = {split: _load(name, tfds_split, options).map(image_label)
            for split, tfds_split in slices.items()}
  size = options.celeba_hq_resolution
  return TfdsSplits(splits, 2, (size, size))


def read_celeba_attributes(path: str, attribute: str) -> np.ndarray:
  """Labels 0/1 of one attribute from a CelebA(-HQ) attribute file: a count
  line, a line of attribute names, then `filename v1 v2 ...` with v in
  {-1, 1}, rows in image order."""
  try:
    with open(path) as f:
      lines = f.read().split("\n")
  except OSError as e:
    raise UsageError(f"cannot read --celeba_hq_attributes={path}: "
                     f"{e.strerror}") from None
  names = lines[1].split() if len(lines) > 1 else []
  if attribute not in names:
    raise UsageError(f"--celeba_hq_attribute={attribute} is not in {path}; "
                     f"it has {', '.join(names[:8])}...")
  column = names.index(attribute) + 1
  rows = [line.split() for line in lines[2:] if line.strip()]
  return np.array([int(row[column]) > 0 for row in rows], np.int32)


def _load(name, split, options):
  kwargs = {}
  if options.manual_dir:
    kwargs["download_and_prepare_kwargs"] = {
        "download_config": tfds.download.DownloadConfig(
            manual_dir=os.path.expanduser(options.manual_dir))}
  try:
    return tfds.load(name, split=split, data_dir=options.data_dir,
                     download=options.download, shuffle_files=False, **kwargs)
  except AssertionError as e:  # tfds' "could not find data" / manual files
    first_line = str(e).split("\n")[0]
    raise UsageError(
        f"tfds dataset {name} is not available ({first_line[:160]}); prepare "
        f"it with `tfds build {name.split('/')[0]}` or pass --tfds_download "
        f"on a machine with network, and point --tfds_data_dir at it") from None


def _image_label(example):
  return example["image"], tf.cast(example["label"], tf.int32)
