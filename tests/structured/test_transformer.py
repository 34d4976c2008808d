"""Heads and MLP channels of the ViT: the groups found in the graph, a
closed gate equal to zeroed weights, the narrow model equal to its gated
parent (Keras and .tflite), scores by hand."""

import numpy as np
import pytest
import tf_keras

from csam_tf import export
from csam_tf.masking import masked_model
from csam_tf.masking.mask_layers import masked_layers
from csam_tf.models import build_model
from csam_tf.models.vit_config import ViTConfig
from csam_tf.structured import flops, transformer

CONFIG = ViTConfig(patch_size=7, dim=16, depth=2, heads=4, mlp_ratio=2.0)
# The float32 converter reorders float sums: logits within this of Keras's.
FLOAT32_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def vit():
  tf_keras.utils.set_random_seed(0)
  return build_model("vit", (28, 28, 1), 10, vit_config=CONFIG)


def _images():
  return np.random.default_rng(0).random((4, 28, 28, 1), np.float32)


def _gated(vit, gates):
  model = masked_model.to_masked_model(vit, "channel", "ones",
                                       train_weights=True)
  for layer in masked_layers(model):
    layer.soft_mask.assign(gates.get(layer.name,
                                     np.ones(layer.soft_mask.shape)))
  return model


def test_heads_and_mlp_channels_are_found_with_their_dense_layers(vit):
  groups = transformer.unit_groups(vit)
  assert [(g.gate, g.kind, g.size, g.width) for g in groups] == [
      ("block1_attention", "heads", 4, 4), ("block1_mlp_gelu",
                                            "mlp_channels", 32, 1),
      ("block2_attention", "heads", 4, 4), ("block2_mlp_gelu",
                                            "mlp_channels", 32, 1)]
  assert groups[0].producers == ("block1_query", "block1_key",
                                 "block1_value")
  assert groups[0].consumers == ("block1_attention_output",)
  assert groups[1].producers == ("block1_mlp1",)
  assert groups[1].consumers == ("block1_mlp2",)


def test_a_closed_head_equals_zeroing_its_rows_of_the_output_projection(vit):
  gated = _gated(vit, {"block2_attention": np.array([1, 0, 1, 1.0])})
  zeroed = tf_keras.models.clone_model(vit)
  zeroed.set_weights(vit.get_weights())
  layer = zeroed.get_layer("block2_attention_output")
  kernel, bias = layer.get_weights()
  kernel[4:8] = 0                        # head 1's four rows
  layer.set_weights([kernel, bias])
  np.testing.assert_allclose(gated(_images()).numpy(),
                             zeroed(_images()).numpy(), atol=1e-6)


def test_the_narrow_model_gives_its_gated_parents_logits(vit, tmp_path):
  rng = np.random.default_rng(3)
  gates = {"block1_attention": np.array([0, 1, 0, 1.0]),
           "block2_attention": np.array([1, 1, 1, 0.0]),
           "block1_mlp_gelu": (rng.random(32) < 0.5).astype(np.float32),
           "block2_mlp_gelu": (rng.random(32) < 0.25).astype(np.float32)}
  folded = masked_model.fold_channel_gates(_gated(vit, gates))
  groups = transformer.unit_groups(folded)
  narrow = transformer.narrow_model(
      folded, groups, {name: gate > 0 for name, gate in gates.items()})
  np.testing.assert_allclose(narrow(_images()).numpy(),
                             folded(_images()).numpy(), atol=1e-5)
  assert narrow.get_layer("block1_attention").num_heads == 2
  assert narrow.get_layer("block2_attention").num_heads == 3
  assert narrow.get_layer("block1_query").units == 8
  assert narrow.get_layer("block1_mlp1").units == int(gates[
      "block1_mlp_gelu"].sum())
  # a head: 4 columns of query, key, value (16 weights + bias each) and 4
  # rows of the output projection; an MLP channel: a column of mlp1, a row
  # of mlp2
  closed_heads, head = 3, 3 * 4 * 17 + 4 * 16
  closed_channels = int(64 - gates["block1_mlp_gelu"].sum() -
                        gates["block2_mlp_gelu"].sum())
  assert vit.count_params() - narrow.count_params() == (
      closed_heads * head + closed_channels * (17 + 16))
  tokens = 16
  assert flops.model_flops(vit) - flops.model_flops(narrow) == (
      closed_heads * (4 * 2 * tokens * 16 * 4 + 2 * 2 * tokens * tokens * 4)
      + closed_channels * 2 * 2 * tokens * 16)
  path = tmp_path / "narrow.tflite"
  path.write_bytes(export.convert(narrow, "float32", []))
  np.testing.assert_allclose(export.LiteRTModel(str(path))(_images()),
                             narrow(_images()).numpy(),
                             atol=FLOAT32_TOLERANCE)


def test_group_norm_scores_by_hand():
  inputs = tf_keras.Input((3, 2))
  hidden = tf_keras.layers.Dense(2, name="up")(inputs)
  hidden = tf_keras.layers.Activation("gelu", name="act")(hidden)
  model = tf_keras.Model(inputs, tf_keras.layers.Dense(1, name="down")(
      hidden))
  model.get_layer("up").set_weights([np.array([[1., 2.], [3., 4.]]),
                                     np.array([0., 1.])])
  model.get_layer("down").set_weights([np.array([[2.], [0.]]),
                                       np.array([5.])])
  (group,) = transformer.unit_groups(model)
  np.testing.assert_allclose(transformer.unit_scores(model, group),
                             [np.sqrt(1 + 9 + 0 + 4), np.sqrt(4 + 16 + 1)])
  np.testing.assert_allclose(transformer.unit_scores(model, group,
                                                     "l1_filter"),
                             [1 + 3 + 0, 2 + 4 + 1])
