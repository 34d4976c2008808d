"""Bring your own model: a tf_keras.applications MobileNetV2 (no downloaded
weights) trained briefly by you, then searched, fine-tuned with your own
`fit`, certified and exported through csam_tf's Python API.

    .venv/bin/python examples/bring_your_own_model.py --out_dir=runs/byom

Fashion-MNIST resized to 32x32 stands in for your data: any tf.data of
(images in [0, 1], integer labels) batches works the same way.
"""

import os

from absl import app, flags, logging

flags.DEFINE_string("out_dir", "runs/bring_your_own_model", "Where the "
                    ".tflite goes.")
flags.DEFINE_integer("train_images", 5000, "Training images.", lower_bound=64)
flags.DEFINE_integer("test_images", 0, "Test images evaluated (0: all "
                     "10,000).", lower_bound=0)
flags.DEFINE_integer("epochs", 2, "Your own training, then fine-tuning.",
                     lower_bound=1)
flags.DEFINE_integer("search_steps", 50, "Mask-search steps.", lower_bound=1)
flags.DEFINE_float("sparsity", 0.5, "Share of the prunable weights removed.",
                   lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_integer("cert_images", 20, "Test images certified.",
                     lower_bound=1)
flags.DEFINE_integer("cert_nsamples", 100, "Transformations per bound.",
                     lower_bound=2)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # TensorFlow's saver chatter
  import keras_cv  # noqa: F401  (Keras 3 before tfmot)
  import numpy as np
  import tensorflow_model_optimization as tfmot
  import tf_keras

  import csam_tf
  from csam_tf.data import pipeline
  from csam_tf.data.config import DataConfig

  tf_keras.utils.set_random_seed(0)
  data = pipeline.load(DataConfig(image_size=32, channels=1, batch_size=64,
                                  train_subset=FLAGS.train_images,
                                  eval_subset=FLAGS.test_images))
  loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  # 1. Your model and your training (logits out: classifier_activation=None).
  model = tf_keras.applications.MobileNetV2(
      input_shape=(32, 32, 1), alpha=0.35, weights=None, classes=10,
      classifier_activation=None)
  model.compile(optimizer=tf_keras.optimizers.Adam(1e-3), loss=loss,
                metrics=["accuracy"])
  model.fit(data.train(0), epochs=FLAGS.epochs, verbose=2)

  # 2. C-SAM's masks on your model and data, weights frozen.
  masks = csam_tf.search_masks(model, data.train(1), sparsity=FLAGS.sparsity,
                               steps=FLAGS.search_steps)

  # 3. tfmot wrappers holding them (BatchNorm re-estimated under the masks),
  #    fine-tuned with your own fit, stripped.
  pruned = csam_tf.prune_with_masks(model, masks, data.train(2))
  pruned.compile(optimizer=tf_keras.optimizers.SGD(0.01, momentum=0.9),
                 loss=loss, metrics=["accuracy"])
  pruned.fit(data.train(3), epochs=FLAGS.epochs, verbose=2,
             callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  final = csam_tf.strip_pruning(pruned)
  final.compile(loss=loss, metrics=["accuracy"])
  accuracy = final.evaluate(data.evaluation("test"), verbose=0,
                            return_dict=True)["accuracy"]
  kept = sum(float(m.sum()) for m in masks.values())
  total = sum(m.size for m in masks.values())

  # 4. Certified accuracy under the composite transformation (PROTOCOL.md).
  images, labels = [], []
  for batch, batch_labels in data.evaluation("test"):
    images.append(batch.numpy())
    labels.append(batch_labels.numpy())
  images = np.concatenate(images)[:FLAGS.cert_images]
  labels = np.concatenate(labels)[:FLAGS.cert_images]
  result = csam_tf.certify_model(final, images, labels, family="composite",
                                 nsamples=FLAGS.cert_nsamples)

  # 5. The .tflite to ship.
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  path = os.path.join(FLAGS.out_dir, "model.tflite")
  with open(path, "wb") as f:
    f.write(csam_tf.export_tflite(final))
  print(f"test accuracy {accuracy:.4f}, sparsity of the masked layers "
        f"{1 - kept / total:.4f}, PCA@1e-3 {result['pca@0.001']:.4f} over "
        f"{result['images']} test images, {path} "
        f"{os.path.getsize(path)} bytes")


if __name__ == "__main__":
  app.run(main)
