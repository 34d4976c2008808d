"""keras_cv, whichever of it and tensorflow_model_optimization a program
imports first.

Why: keras_cv (Keras 3) binds `tensorflow.keras` when it is imported, and
tfmot switches `tensorflow.keras` to Keras 2 (TF_USE_LEGACY_KERAS) when it
is; a user script that imports tfmot before csam_tf's API loads would
otherwise fail inside keras_cv with an AttributeError. `load` imports
keras_cv with `tensorflow.keras` pointing at Keras 3 for the duration, then
puts back what was there, so tfmot and tf_keras see what they saw.
"""

import sys


def load():
  """The keras_cv module, imported against Keras 3."""
  if "keras_cv" in sys.modules:
    return sys.modules["keras_cv"]
  import keras  # noqa: F401  pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  missing = object()
  saved = tf.__dict__.get("keras", missing)
  tf.keras = keras
  try:
    import keras_cv  # pylint: disable=import-outside-toplevel
  finally:
    if saved is missing:
      del tf.keras
    else:
      tf.keras = saved
  return keras_cv
