"""Trains the learned editor of examples/transforms/learned_editor.py: a
small convolutional autoencoder on Fashion-MNIST whose latent code is moved
along one direction (the mean code of one class minus another's), exported
as a SavedModel.

    .venv/bin/python examples/transforms/train_editor.py \\
        --out_dir=examples/transforms/editor_savedmodel

The edit is residual, x + decode(z + s d) - decode(z): strength s = 0 gives
the image back exactly, and s moves it towards the other class's look.
"""

from absl import app, flags

flags.DEFINE_string("out_dir", "examples/transforms/editor_savedmodel",
                    "Where the SavedModel goes.")
flags.DEFINE_integer("train_images", 20000, "Training images.",
                     lower_bound=64)
flags.DEFINE_integer("epochs", 3, "Epochs.", lower_bound=1)
flags.DEFINE_integer("latent", 16, "Code size.", lower_bound=1)
flags.DEFINE_integer("from_class", 0, "Direction = mean code of --to_class "
                     "minus this class's (0: T-shirt/top).", lower_bound=0)
flags.DEFINE_integer("to_class", 6, "(6: shirt)", lower_bound=0)
FLAGS = flags.FLAGS


def autoencoder(latent: int):
  """(encoder, decoder) for 28x28x1 images."""
  import tf_keras  # pylint: disable=import-outside-toplevel
  L = tf_keras.layers  # pylint: disable=invalid-name
  encoder = tf_keras.Sequential([
      tf_keras.Input((28, 28, 1)),
      L.Conv2D(16, 3, 2, "same", activation="relu"),
      L.Conv2D(32, 3, 2, "same", activation="relu"),
      L.Flatten(), L.Dense(latent)], name="encoder")
  decoder = tf_keras.Sequential([
      tf_keras.Input((latent,)), L.Dense(7 * 7 * 32, activation="relu"),
      L.Reshape((7, 7, 32)),
      L.Conv2DTranspose(16, 3, 2, "same", activation="relu"),
      L.Conv2DTranspose(1, 3, 2, "same", activation="sigmoid")],
                                name="decoder")
  return encoder, decoder


def train_and_export(out_dir: str, train_images: int, epochs: int,
                     latent: int, from_class: int, to_class: int) -> float:
  """Trains, exports; returns the direction's length."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tf_keras  # pylint: disable=import-outside-toplevel

  from csam_tf.data import pipeline  # pylint: disable=import-outside-toplevel
  from csam_tf.data.config import DataConfig  # pylint: disable=import-outside-toplevel

  tf_keras.utils.set_random_seed(0)
  data = pipeline.load(DataConfig(train_subset=train_images, batch_size=128))
  encoder, decoder = autoencoder(latent)
  inputs = tf_keras.Input((28, 28, 1))
  model = tf_keras.Model(inputs, decoder(encoder(inputs)))
  model.compile(optimizer=tf_keras.optimizers.Adam(2e-3), loss="mse")
  images = data.train(0).map(lambda x, y: (x, x))
  model.fit(images, epochs=epochs, verbose=2,
            steps_per_epoch=data.steps_per_epoch(0))
  codes, labels = [], []
  for batch, batch_labels in data.evaluation("validation"):
    codes.append(encoder(batch, training=False).numpy())
    labels.append(batch_labels.numpy())
  codes, labels = np.concatenate(codes), np.concatenate(labels)
  direction = (codes[labels == to_class].mean(0) -
               codes[labels == from_class].mean(0)).astype(np.float32)

  class Editor(tf.Module):
    """edit(images, strength): the residual latent edit, clipped."""

    def __init__(self):
      super().__init__()
      self.encoder, self.decoder = encoder, decoder
      self.direction = tf.Variable(direction, trainable=False)

    @tf.function(input_signature=[
        tf.TensorSpec([None, 28, 28, 1], tf.float32),
        tf.TensorSpec([None], tf.float32)])
    def edit(self, images, strength):
      code = self.encoder(images, training=False)
      moved = code + strength[:, None] * self.direction[None, :]
      change = (self.decoder(moved, training=False) -
                self.decoder(code, training=False))
      return tf.clip_by_value(images + change, 0.0, 1.0)

  tf.saved_model.save(Editor(), out_dir)
  return float(np.linalg.norm(direction))


def main(argv):
  del argv
  import keras_cv  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  length = train_and_export(FLAGS.out_dir, FLAGS.train_images, FLAGS.epochs,
                            FLAGS.latent, FLAGS.from_class, FLAGS.to_class)
  print(f"editor saved to {FLAGS.out_dir} (direction length {length:.3f})")


if __name__ == "__main__":
  app.run(main)
