"""The small Vision Transformer: standard multi-head attention, hand-counted
FLOPs and parameters, every projection maskable and prunable by tfmot,
.tflite logits equal to Keras's."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from csam_tf import export
from csam_tf.masking import tfmot_bridge
from csam_tf.masking import masked_model
from csam_tf.models import build_model
from csam_tf.models.vit import DotProductAttention
from csam_tf.models.vit_config import ViTConfig
from csam_tf.structured import flops

SMALL = ViTConfig(patch_size=7, dim=16, depth=2, heads=2, mlp_ratio=2.0)
PROJECTIONS = ("query", "key", "value", "attention_output", "mlp1", "mlp2")
# The float32 converter reorders float sums: logits within this of Keras's.
FLOAT32_TOLERANCE = 1e-4


def _small():
  tf_keras.utils.set_random_seed(0)
  return build_model("vit", (28, 28, 1), 10, vit_config=SMALL)


def _images(count=4):
  return np.random.default_rng(0).random((count, 28, 28, 1), np.float32)


def test_attention_equals_keras_multi_head_attention_with_the_same_weights():
  """Q, K, V and output Dense layers around DotProductAttention compute
  tf_keras.layers.MultiHeadAttention (self-attention, 4 heads of 8)."""
  tf_keras.utils.set_random_seed(0)
  tokens = tf.random.normal([2, 5, 32])
  reference = tf_keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)
  expected = reference(tokens, tokens)
  dense = {}
  for name, sub in (("query", reference._query_dense),  # pylint: disable=protected-access
                    ("key", reference._key_dense),  # pylint: disable=protected-access
                    ("value", reference._value_dense)):  # pylint: disable=protected-access
    kernel, bias = sub.get_weights()      # [32, 4, 8], [4, 8]
    dense[name] = tf_keras.layers.Dense(32)
    dense[name].build([None, 32])
    dense[name].set_weights([kernel.reshape(32, 32), bias.reshape(32)])
  kernel, bias = reference._output_dense.get_weights()  # pylint: disable=protected-access
  output = tf_keras.layers.Dense(32)
  output.build([None, 32])
  output.set_weights([kernel.reshape(32, 32), bias])
  got = output(DotProductAttention(4)(
      [dense["query"](tokens), dense["key"](tokens), dense["value"](tokens)]))
  np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


def test_parameters_and_flops_by_hand():
  model = _small()
  tokens, dim, hidden = 16, 16, 32            # (28 / 7)^2 tokens
  patch = 7 * 7 * 1 * dim + dim
  block = (4 * (dim * dim + dim)              # query, key, value, output
           + (dim * hidden + hidden) + (hidden * dim + dim)   # MLP
           + 2 * 2 * dim)                     # two LayerNorms
  assert model.count_params() == (patch + tokens * dim + 2 * block +
                                  2 * dim + dim * 10 + 10)
  per_block = (4 * 2 * tokens * dim * dim + 2 * 2 * tokens * dim * hidden +
               2 * 2 * tokens * tokens * dim)
  assert flops.model_flops(model) == (2 * tokens * 7 * 7 * 1 * dim +
                                      2 * per_block + 2 * dim * 10)


def test_every_projection_is_prunable_the_patch_embedding_and_head_stay():
  names = masked_model.prunable_layer_names(_small())
  assert names == [f"block{b}_{p}" for b in (1, 2) for p in PROJECTIONS]
  assert masked_model.kept_whole_layers(_small()) == {"patch_embedding",
                                                      "head"}


def test_a_patch_size_that_does_not_divide_the_image_is_refused():
  with pytest.raises(ValueError, match="--vit_patch_size=5 does not divide "
                     "the 28x28 images"):
    build_model("vit", (28, 28, 1), 10, vit_config=ViTConfig(patch_size=5))


def test_saved_and_loaded_it_gives_the_same_logits(tmp_path):
  model = _small()
  model.save(tmp_path / "vit.keras")
  loaded = tf_keras.models.load_model(tmp_path / "vit.keras")
  np.testing.assert_array_equal(loaded(_images()).numpy(),
                                model(_images()).numpy())


def test_masks_of_ones_leave_it_unchanged_and_only_masks_train():
  model = _small()
  masked = masked_model.to_masked_model(model, mask_init="ones")
  np.testing.assert_array_equal(masked(_images()).numpy(),
                                model(_images()).numpy())
  assert len(masked.trainable_variables) == 12
  assert all("soft_mask" in v.name for v in masked.trainable_variables)


def test_tfmot_wrappers_hold_the_masks_and_the_tflite_matches(tmp_path):
  model = _small()
  rng = np.random.default_rng(1)
  masks = {name: (rng.random(model.get_layer(name).kernel.shape) < 0.3
                  ).astype(np.float32)
           for name in masked_model.prunable_layer_names(model)}
  pruned = tfmot_bridge.prune_with_fixed_masks(model, masks, 0.7)
  np.testing.assert_array_equal(
      sorted(tfmot_bridge.wrapper_masks(pruned)), sorted(masks))
  final = tfmot_bridge.strip(pruned)
  for name, mask in masks.items():
    kernel = final.get_layer(name).kernel.numpy()
    assert np.array_equal(kernel != 0, mask == 1), name
  path = tmp_path / "vit.tflite"
  path.write_bytes(export.convert(final, "float32", []))
  np.testing.assert_allclose(export.LiteRTModel(str(path))(_images()),
                             final(_images(), training=False).numpy(),
                             atol=FLOAT32_TOLERANCE)
