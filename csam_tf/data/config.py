"""What data to load and how to batch it (pure Python, no TensorFlow)."""

import dataclasses
from typing import Optional

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
