"""`--init_model=PATH`: the user's own trained tf_keras model instead of a
built-in architecture trained in stage 1.

Every mistake is one line naming the file or the layer and what to do:
the path is checked before TensorFlow is imported (`check_path`), the
model right after it is loaded (`load`, `check_against`), before any
stage starts.
"""

import json
import os
import zipfile

from csam_tf.core.errors import UsageError

SUFFIXES = (".keras", ".h5")


def check_path(path: str) -> None:
  """A .keras or .h5 file, or a SavedModel folder (no TensorFlow needed)."""
  if os.path.isdir(path):
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
      raise UsageError(f"--init_model={path} is a folder without "
                       f"saved_model.pb: give a .keras or .h5 file or a "
                       f"SavedModel folder of a tf_keras model")
    return
  if not os.path.isfile(path):
    raise UsageError(f"--init_model={path} does not exist")
  if not path.endswith(SUFFIXES):
    raise UsageError(f"--init_model={path} is not a .keras or .h5 file or a "
                     f"SavedModel folder (save the model with "
                     f"model.save('model.keras'))")


def saved_by_keras_3(path: str) -> bool:
  """A .keras zip whose metadata names Keras 3 (tf.keras in TF >= 2.16)."""
  try:
    with zipfile.ZipFile(path) as archive:
      metadata = json.loads(archive.read("metadata.json"))
  except (OSError, KeyError, ValueError, zipfile.BadZipFile):
    return False
  return str(metadata.get("keras_version", "")).startswith("3")


def load(path: str):
  """The tf_keras functional model at `path`, uncompiled."""
  import tf_keras  # pylint: disable=import-outside-toplevel
  from csam_tf.models import vit  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  # (registers the ViT's layers, so a saved csam_tf ViT loads)
  if path.endswith(".keras") and saved_by_keras_3(path):
    raise UsageError(
        f"--init_model={path} was saved by Keras 3 (tf.keras in TensorFlow "
        f">= 2.16); tfmot's pruning wrappers need tf_keras: build the same "
        f"model with `import tf_keras`, copy the weights "
        f"(set_weights(get_weights())) and save it with model.save()")
  try:
    model = tf_keras.models.load_model(path, compile=False)
  except Exception as e:  # pylint: disable=broad-except
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise UsageError(f"--init_model={path} cannot be loaded as a tf_keras "
                     f"model: {first[:200]}") from None
  problem = structure_problem(model)
  if problem:
    raise UsageError(f"--init_model={path} {problem}")
  return model


def structure_problem(model) -> str:
  """What keeps csam_tf from pruning this model object, as the end of a
  sentence about it ('' when nothing does): the CLI's --init_model and the
  Python API say the same."""
  import tf_keras  # pylint: disable=import-outside-toplevel
  if not isinstance(model, tf_keras.Model):
    if type(model).__module__.startswith("keras"):
      return ("is a Keras 3 model (tf.keras in TensorFlow >= 2.16); tfmot's "
              "pruning wrappers need tf_keras: build the same model with "
              "`import tf_keras` and copy the weights "
              "(set_weights(get_weights()))")
    return f"is a {type(model).__name__}, not a tf_keras model"
  if not getattr(model, "_is_graph_network", False):
    return ("is a subclassed model; the masks follow the layer graph: "
            "build a functional or Sequential tf_keras model")
  for layer in model.layers:
    if isinstance(layer, tf_keras.Model):
      return (f"has layer {layer.name!r}, a nested model; build the model "
              f"flat (call the inner model's layers on the outer model's "
              f"tensors)")
  maskable = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D,
              tf_keras.layers.Dense)
  for layer in model.layers:
    if type(layer) is tf_keras.layers.MultiHeadAttention:
      return (f"has layer {layer.name!r}, a MultiHeadAttention, whose four "
              f"kernels csam_tf cannot mask: build attention from Dense "
              f"query, key, value and output layers around "
              f"csam_tf.models.vit.DotProductAttention, as --arch=vit does")
    if (type(layer) not in maskable and
        any("kernel" in weight.name for weight in layer.weights)):
      return (f"has layer {layer.name!r}, a {type(layer).__name__}, whose "
              f"kernel csam_tf cannot mask (it masks Conv2D, "
              f"DepthwiseConv2D and Dense): replace it with those")
  last = model.layers[-1]
  if (getattr(last, "activation", None) is tf_keras.activations.softmax or
      isinstance(last, tf_keras.layers.Softmax)):
    return (f"ends in a softmax ({last.name!r}); csam_tf needs logits: "
            f"rebuild the model without it (tf_keras.applications: "
            f"classifier_activation=None)")
  return ""


def check_against(model, path: str, input_shape, num_classes: int) -> None:
  """The model takes the data's images and predicts its classes."""
  expected = tuple(input_shape)
  got = tuple(model.input_shape[1:])
  if got != expected:
    raise UsageError(f"--init_model={path} takes inputs of shape {got}, the "
                     f"data's images are {expected}: choose the matching "
                     f"--dataset (or --image_size), or rebuild the model")
  outputs = model.output_shape[-1]
  if outputs != num_classes:
    raise UsageError(f"--init_model={path} has {outputs} outputs, the data "
                     f"has {num_classes} classes")
