"""JPEG compression as a semantic transformation: a plug-in for
`--transform=examples.transforms.jpeg:jpeg_quality` (run from the
repository root, or put this folder's parent on PYTHONPATH).

The parameter is the JPEG quality; each image is encoded and decoded at its
own quality with TensorFlow's JPEG ops (deterministic: the same quality
gives the same image). Quality is drawn as a float and rounded.
"""

import tensorflow as tf

# Quality ranges per protocol level: L1 mild, L2 strong compression.
QUALITY = {"L1": (50.0, 100.0), "L2": (10.0, 100.0)}


class JpegQuality:
  """Encode and decode at a per-image JPEG quality."""

  name = "jpeg"

  def ranges(self, level):
    return {"quality": QUALITY[level]}

  def apply(self, images, params):
    quality = tf.cast(tf.round(params["quality"]), tf.int32)

    def one(args):
      image, q = args
      return tf.image.adjust_jpeg_quality(image, q)

    out = tf.map_fn(one, (tf.convert_to_tensor(images, tf.float32), quality),
                    fn_output_signature=tf.float32)
    return tf.clip_by_value(tf.ensure_shape(out, images.shape), 0.0, 1.0)


def jpeg_quality():
  """The factory `--transform` names."""
  return JpegQuality()
