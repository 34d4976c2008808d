"""A learned editor as a semantic transformation: the SavedModel that
examples/transforms/train_editor.py exports moves an image's latent code
along one direction, scaled by the drawn `strength`.

    --transform=examples.transforms.learned_editor:learned_editor

The SavedModel is read from $CSAM_EDITOR_DIR, else from
examples/transforms/editor_savedmodel (train it first).
"""

import os

import tensorflow as tf

DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "editor_savedmodel")
# strength in units of the direction (the mean code difference of the two
# classes: 1 moves a code by the whole difference)
STRENGTH = {"L1": (-0.5, 0.5), "L2": (-1.0, 1.0)}


class LearnedEditor:
  """Wraps the editor SavedModel's `edit(images, strength)`."""

  name = "editor"

  def __init__(self, path: str):
    self._editor = tf.saved_model.load(path)

  def ranges(self, level):
    return {"strength": STRENGTH[level]}

  def apply(self, images, params):
    return self._editor.edit(tf.convert_to_tensor(images, tf.float32),
                             tf.cast(params["strength"], tf.float32))


def learned_editor():
  """The factory `--transform` names."""
  path = os.environ.get("CSAM_EDITOR_DIR", DEFAULT_DIR)
  if not os.path.exists(os.path.join(path, "saved_model.pb")):
    raise FileNotFoundError(
        f"no editor SavedModel in {path}: train it with python "
        f"examples/transforms/train_editor.py --out_dir={path} (or set "
        f"CSAM_EDITOR_DIR)")
  return LearnedEditor(path)
