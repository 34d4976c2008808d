"""Plug-in transformations for tests/transforms/test_plugin.py: one that
is the protocol's brightness under another name, and one per way a
plug-in can be wrong."""

import numpy as np
import tensorflow as tf

from csam_tf.transforms import semantic
from csam_tf.transforms.ranges import family_ranges


class _Brightness:
  name = "my_brightness"

  def ranges(self, level):
    return family_ranges("brightness", level)

  def apply(self, images, params):
    return semantic.apply_params(images, params)


def brightness():
  return _Brightness()


class _Broken(_Brightness):
  name = "broken"

  def __init__(self, apply):
    self._apply = apply

  def apply(self, images, params):
    return self._apply(images, params)


def wrong_shape():
  return _Broken(lambda images, params: images[:, :-1])


def wrong_dtype():
  return _Broken(lambda images, params: tf.cast(images * 255, tf.uint8))


def out_of_range():
  return _Broken(lambda images, params: images * 2.0 + 0.5)


def random_noise():
  return _Broken(lambda images, params: tf.clip_by_value(
      images + tf.random.uniform(tf.shape(images), 0.0, 0.1), 0.0, 1.0))


def not_a_tensor():
  return _Broken(lambda images, params: [1, 2, 3])


class _Nameless:
  def apply(self, images, params):
    return images


def nameless():
  return _Nameless()


def family_name():
  transform = _Brightness()
  transform.name = "rotation"
  return transform


NOT_CALLABLE = 3
UNUSED = np.zeros(1)


MARK = "csam-test: marked transformation applied to a training-size batch"


class _Marked(_Brightness):
  """The protocol's brightness that prints MARK to stderr each time it
  runs on a batch larger than plugin.check's 4 probe images: a test sees
  which stages really applied it."""
  name = "marked"

  def apply(self, images, params):
    if tf.shape(images)[0] > 4:
      tf.print(MARK, output_stream="file:///dev/stderr")
    return semantic.apply_params(images, params)


def marked():
  return _Marked()
