"""Stage 2's outputs beside the masks: BatchNorm's gamma and beta as
--search_bn=batch_affine learned them, saved and put on a copy of the
dense model for fine-tuning (the stage itself runs in test_train_cli)."""

import numpy as np
import tf_keras

from conftest import custom_model
from csam_tf.masking.recalibrate import batchnorm_layers
from trainers import mask_stage


def test_learned_gamma_and_beta_go_to_a_copy_of_the_dense_model(tmp_path):
  tf_keras.utils.set_random_seed(0)
  searched, dense = custom_model((12, 12, 1), 4), custom_model((12, 12, 1), 4)
  dense.set_weights(searched.get_weights())
  for i, layer in enumerate(batchnorm_layers(searched)):
    layer.gamma.assign(layer.gamma + 0.25 * (i + 1))
    layer.beta.assign(layer.beta - 0.5)
  path = str(tmp_path / "affine.npz")
  mask_stage.save_batchnorm_affine(path, searched)
  with np.load(path) as saved:
    assert sorted(saved.files) == sorted(
        f"{l.name}/{w}" for l in batchnorm_layers(dense)
        for w in ("gamma", "beta"))
  original = [w.copy() for w in dense.get_weights()]
  copy = mask_stage.with_batchnorm_affine(dense, path)
  for name in (l.name for l in batchnorm_layers(dense)):
    for weight in ("gamma", "beta", "moving_mean", "moving_variance"):
      np.testing.assert_array_equal(
          getattr(copy.get_layer(name), weight).numpy(),
          getattr(searched.get_layer(name), weight).numpy())
  for name in ("c0", "pw", "head"):  # every other weight as the dense one
    for a, b in zip(copy.get_layer(name).get_weights(),
                    dense.get_layer(name).get_weights()):
      np.testing.assert_array_equal(a, b)
  for a, b in zip(dense.get_weights(), original):  # the dense model as it was
    np.testing.assert_array_equal(a, b)
