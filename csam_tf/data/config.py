"""What data to load and how to batch it (pure Python, no TensorFlow)."""

import dataclasses
import os
from typing import Optional

from csam_tf.data import fashion_mnist, image_folder
from csam_tf.core.errors import UsageError

DATASETS = ("fashion_mnist", "cifar10", "cifar10_corrupted",
            "oxford_flowers102", "celeb_a_hq", "image_folder")
CIFAR10_CORRUPTIONS = (
    "brightness", "contrast", "defocus_blur", "elastic", "fog", "frost",
    "frosted_glass_blur", "gaussian_blur", "gaussian_noise", "impulse_noise",
    "jpeg_compression", "motion_blur", "pixelate", "saturate", "shot_noise",
    "spatter", "speckle_noise", "zoom_blur")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  dataset: str = "fashion_mnist"
  data_dir: str = ""            # "" = the dataset's default place
  image_size: int = 0           # 0 = native size
  channels: int = 3             # image folder only
  batch_size: int = 128
  eval_batch_size: int = 256
  train_subset: int = 0         # 0 = all training images
  eval_subset: int = 0          # 0 = all validation and test images
  tfds_manual_dir: Optional[str] = None
  tfds_download: bool = False
  corruption: str = "brightness"
  severity: int = 1
  celeba_hq_resolution: int = 128
  celeba_hq_attributes: Optional[str] = None
  celeba_hq_attribute: str = "Male"


def check_data_available(cfg: DataConfig) -> None:
  """Fails fast, before TensorFlow loads, when the data cannot be there."""
  if cfg.dataset == "fashion_mnist":
    fashion_mnist.load(cfg.data_dir or fashion_mnist.DEBIAN_DIR)  # readable
  elif cfg.dataset == "image_folder":
    if not cfg.data_dir:
      raise UsageError("--dataset=image_folder needs --data_dir=<root with "
                       "one sub-folder per class>")
    if not os.path.isdir(cfg.data_dir):
      raise UsageError(f"--data_dir={cfg.data_dir} does not exist")
    if not cfg.image_size:
      raise UsageError("--dataset=image_folder needs --image_size (images "
                       "in a folder may differ in size)")
    image_folder.split_files(cfg.data_dir)  # classes and image headers
  elif cfg.data_dir and not os.path.isdir(cfg.data_dir):
    raise UsageError(f"--data_dir={cfg.data_dir} does not exist")
  if cfg.dataset == "celeb_a_hq" and not cfg.celeba_hq_attributes:
    raise UsageError("celeb_a_hq has no labels in tfds: pass "
                     "--celeba_hq_attributes=<CelebAMask-HQ-attribute-anno.txt>")
