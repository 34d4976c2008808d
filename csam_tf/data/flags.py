"""Flags that choose and batch the data; `data_config()` reads them."""

from absl import flags

from csam_tf.data import fashion_mnist
from csam_tf.data.config import CIFAR10_CORRUPTIONS, DATASETS, DataConfig

flags.DEFINE_enum("dataset", "fashion_mnist", DATASETS, "Dataset to train on.")
flags.DEFINE_string(
    "data_dir", "",
    "fashion_mnist: folder of the *-idx?-ubyte.gz files (default "
    f"{fashion_mnist.DEBIAN_DIR}); image_folder: the root with one "
    "sub-folder per class; tfds datasets: the tfds data_dir.")
flags.DEFINE_integer("image_size", 0, "Resize images to this square size; 0 "
                     "keeps the native size.", lower_bound=0)
flags.DEFINE_integer("channels", 3, "Channels to decode (image_folder).",
                     lower_bound=1, upper_bound=4)
flags.DEFINE_integer("batch_size", 128, "Training batch size.", lower_bound=1)
flags.DEFINE_integer("eval_batch_size", 256, "Evaluation batch size.",
                     lower_bound=1)
flags.DEFINE_integer("train_subset", 0, "Use only the first N training "
                     "images (0 = all): for small runs.", lower_bound=0)
flags.DEFINE_integer("eval_subset", 0, "Use only the first N validation and "
                     "test images (0 = all): for small runs.", lower_bound=0)
flags.DEFINE_string("tfds_manual_dir", None, "tfds manual download folder "
                    "(celeb_a_hq's data<R>x<R>.tar files).")
flags.DEFINE_boolean("tfds_download", False, "Let tfds download and prepare "
                     "missing datasets (needs network).")
flags.DEFINE_enum("corruption", "brightness", CIFAR10_CORRUPTIONS,
                  "cifar10_corrupted: corruption of the test set.")
flags.DEFINE_integer("severity", 1, "cifar10_corrupted: severity of the "
                     "test corruption.", lower_bound=1, upper_bound=5)
flags.DEFINE_enum("celeba_hq_resolution", "128",
                  ["32", "64", "128", "256", "512", "1024"],
                  "celeb_a_hq: tfds config (image resolution).")
flags.DEFINE_string("celeba_hq_attributes", None, "celeb_a_hq: path of "
                    "CelebAMask-HQ-attribute-anno.txt (labels).")
flags.DEFINE_string("celeba_hq_attribute", "Male", "celeb_a_hq: attribute "
                    "used as the binary label.")

FLAGS = flags.FLAGS


def data_config() -> DataConfig:
  """The DataConfig the flags describe."""
  return DataConfig(
      dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
      image_size=FLAGS.image_size, channels=FLAGS.channels,
      batch_size=FLAGS.batch_size, eval_batch_size=FLAGS.eval_batch_size,
      train_subset=FLAGS.train_subset, eval_subset=FLAGS.eval_subset,
      tfds_manual_dir=FLAGS.tfds_manual_dir,
      tfds_download=FLAGS.tfds_download, corruption=FLAGS.corruption,
      severity=FLAGS.severity,
      celeba_hq_resolution=int(FLAGS.celeba_hq_resolution),
      celeba_hq_attributes=FLAGS.celeba_hq_attributes,
      celeba_hq_attribute=FLAGS.celeba_hq_attribute)
