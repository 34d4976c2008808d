"""Semantic transformations of the benchmark protocol (shared/PROTOCOL.md).

One function draws parameters (`sample_params`), one applies them
(`apply_params`): certification replays exactly the transformations it
sampled, and training draws them inside `tf.data` or a `tf.function` step.
Everything is vectorised over the batch, with one parameter set per image.

Brightness and contrast are keras-cv's own `augment_images` (additive delta;
factor about the per-image, per-channel mean), both then clipped to [0, 1].
keras-cv has no joint rotation+translation warp and its Gaussian blur pads
with zeros, so the warp (one `ImageProjectiveTransformV3`, bilinear, zero
fill) and the reflect-padded blur are written here as plain TF ops.
"""

import math
from typing import Dict, Mapping

import tensorflow as tf

from csam_tf.core import keras_cv_loader
from csam_tf.transforms.ranges import (ANGLE, BLUR_KERNEL_SIZE, BRIGHTNESS,
                                      CONTRAST, DX, DY, IDENTITY, SIGMA,
                                      Ranges)

keras_cv = keras_cv_loader.load()  # Keras 3, whatever tfmot did first


def sample_params(ranges: Ranges, batch_size, seed) -> Dict[str, tf.Tensor]:
  """Draws one parameter set per image, uniformly from `ranges`.

  `seed` is a stateless seed (shape [2] int): the same seed gives the same
  parameters, so a run and its resumption see the same transformations.
  """
  seed = tf.convert_to_tensor(seed)
  params = {}
  for i, (name, (low, high)) in enumerate(sorted(ranges.items())):
    params[name] = tf.random.stateless_uniform(
        [batch_size], seed=tf.random.experimental.stateless_fold_in(seed, i),
        minval=low, maxval=high, dtype=tf.float32)
  return params


def apply_params(images: tf.Tensor, params: Mapping[str, tf.Tensor]
                 ) -> tf.Tensor:
  """Applies per-image parameters to a batch of NHWC images in [0, 1].

  Steps run in the protocol's composite order and only for the parameters
  present: rotation and translation in one warp, then blur, contrast and
  brightness, clipping to [0, 1] after each.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  unknown = set(params) - set(IDENTITY)
  if unknown:
    raise ValueError(f"unknown transformation parameters {sorted(unknown)}")
  if ANGLE in params or DX in params or DY in params:
    images = _clip(warp(images, _get(params, ANGLE, images),
                        _get(params, DX, images), _get(params, DY, images)))
  if SIGMA in params:
    images = _clip(gaussian_blur(images, params[SIGMA]))
  if CONTRAST in params:
    images = _CONTRAST.augment_images(
        images, transformations=_per_image(params[CONTRAST]))
  if BRIGHTNESS in params:
    images = _BRIGHTNESS.augment_images(
        images, transformations=_per_image(params[BRIGHTNESS]))
  return images


def random_transform(images: tf.Tensor, ranges: Ranges, seed,
                     apply=None) -> tf.Tensor:
  """`apply(images, sample_params(...))` for one batch (`apply`: a
  plug-in's, csam_tf.transforms.plugin; default the protocol's)."""
  return (apply or apply_params)(
      images, sample_params(ranges, tf.shape(images)[0], seed))


def warp(images, angle_deg, dx, dy):
  """Rotates about the centre, then translates; bilinear, zero fill.

  One projective transform per image; the matrix maps output to input
  coordinates, as `ImageProjectiveTransformV3` expects.
  """
  height = tf.cast(tf.shape(images)[1], tf.float32)
  width = tf.cast(tf.shape(images)[2], tf.float32)
  theta = tf.convert_to_tensor(angle_deg, tf.float32) * (math.pi / 180.0)
  cos, sin = tf.cos(theta), tf.sin(theta)
  cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
  # in = M (out - c - d) + c with keras-cv's sign convention for M, so a
  # positive angle turns the content counter-clockwise as on screen.
  ux, uy = -cx - dx, -cy - dy
  transforms = tf.stack([
      cos, -sin, cos * ux - sin * uy + cx,
      sin, cos, sin * ux + cos * uy + cy,
      tf.zeros_like(cos), tf.zeros_like(cos)], axis=1)
  return tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=transforms,
      output_shape=tf.shape(images)[1:3], fill_value=0.0,
      interpolation="BILINEAR", fill_mode="CONSTANT")


def gaussian_kernel_1d(sigma):
  """Normalised 5-tap Gaussian weights per image, shape [B, 5].

  sigma = 0 gives the identity kernel [0, 0, 1, 0, 0].
  """
  sigma = tf.maximum(tf.convert_to_tensor(sigma, tf.float32), 1e-6)
  half = BLUR_KERNEL_SIZE // 2
  taps = tf.range(-half, half + 1, dtype=tf.float32)
  logits = -tf.square(taps)[None, :] / (2.0 * tf.square(sigma)[:, None])
  return tf.nn.softmax(logits, axis=1)


def gaussian_blur(images, sigma):
  """Separable 5x5 Gaussian blur with reflect padding, one sigma per image."""
  kernel = gaussian_kernel_1d(sigma)[:, :, None, None, None]  # [B,5,1,1,1]
  half = BLUR_KERNEL_SIZE // 2
  height, width = tf.shape(images)[1], tf.shape(images)[2]
  padded = tf.pad(images, [[0, 0], [half, half], [0, 0], [0, 0]], "REFLECT")
  images = tf.add_n([kernel[:, i] * padded[:, i:i + height]
                     for i in range(BLUR_KERNEL_SIZE)])
  padded = tf.pad(images, [[0, 0], [0, 0], [half, half], [0, 0]], "REFLECT")
  return tf.add_n([kernel[:, i] * padded[:, :, i:i + width]
                   for i in range(BLUR_KERNEL_SIZE)])


# keras-cv layers used as plain ops: value range [0, 1]; `factor` is unused
# because parameters always come from `sample_params`.
_BRIGHTNESS = keras_cv.layers.RandomBrightness(factor=0.0, value_range=(0, 1))
_CONTRAST = keras_cv.layers.RandomContrast(value_range=(0, 1), factor=0.0)


def _per_image(values):
  return tf.reshape(tf.cast(values, tf.float32), [-1, 1, 1, 1])


def _get(params, name, images):
  if name in params:
    return tf.cast(params[name], tf.float32)
  return tf.fill([tf.shape(images)[0]], IDENTITY[name])


def _clip(images):
  return tf.clip_by_value(images, 0.0, 1.0)


def augmenter(ranges: Ranges, prob: float, apply=None):
  """A `(images, seed) -> images` that transforms each image with
  probability `prob` and leaves the others untouched."""

  def augment(images, seed):
    seed = tf.convert_to_tensor(seed, tf.int64)
    transformed = random_transform(
        images, ranges, tf.random.experimental.stateless_fold_in(seed, 0),
        apply)
    chosen = tf.random.stateless_uniform(
        [tf.shape(images)[0]],
        seed=tf.random.experimental.stateless_fold_in(seed, 1)) < prob
    return tf.where(chosen[:, None, None, None], transformed, images)

  return augment
