"""A small Vision Transformer for small inputs (pre-norm, mean-pooled tokens).

Attention is built the way timm's ViT and Torch-Pruning see it, not as one
`MultiHeadAttention` layer: separate Dense query, key, value and output
projections around a parameter-free attention core. Every projection is
then a layer of its own that the masking layers, tfmot's registry (Dense)
and the channel-group walk already know, and a head is a contiguous block
of `dim // heads` columns of the query, key and value kernels and the same
rows of the output kernel (removing it narrows four Dense layers and the
core's `num_heads`). The patch embedding is the first conv and the head the
classifier: PROTOCOL.md keeps both whole.
"""

import tensorflow as tf
import tf_keras

from csam_tf.models.building_blocks import scaled
from csam_tf.models.vit_config import ViTConfig

_L = tf_keras.layers
_PACKAGE = "csam_tf"


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class PositionEmbedding(_L.Layer):
  """Adds a learned embedding per token position."""

  def build(self, input_shape):
    self.embeddings = self.add_weight(
        name="embeddings", shape=(int(input_shape[1]), int(input_shape[2])),
        initializer=tf_keras.initializers.TruncatedNormal(stddev=0.02))
    super().build(input_shape)

  def call(self, inputs):
    return inputs + self.embeddings


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class DotProductAttention(_L.Layer):
  """softmax(Q K^T / sqrt(d)) V per head, for [query, key, value] tokens
  of width heads x d; returns the heads' outputs side by side (the output
  projection's input). No weights: which heads exist is `num_heads`."""

  def __init__(self, num_heads: int, **kwargs):
    super().__init__(**kwargs)
    self.num_heads = int(num_heads)

  def _split(self, x):
    shape = tf.shape(x)
    x = tf.reshape(x, [shape[0], shape[1], self.num_heads,
                       x.shape[-1] // self.num_heads])
    return tf.transpose(x, [0, 2, 1, 3])     # batch, head, token, d

  def call(self, inputs):
    query, key, value = inputs
    if query.shape[-1] % self.num_heads:
      raise ValueError(f"{query.shape[-1]} channels do not split into "
                       f"{self.num_heads} heads")
    depth = query.shape[-1] // self.num_heads
    scores = tf.matmul(self._split(query), self._split(key),
                       transpose_b=True) / tf.sqrt(float(depth))
    context = tf.matmul(tf.nn.softmax(scores, axis=-1), self._split(value))
    context = tf.transpose(context, [0, 2, 1, 3])
    shape = tf.shape(context)
    return tf.reshape(context, [shape[0], shape[1],
                                self.num_heads * depth])

  def get_config(self):
    return {**super().get_config(), "num_heads": self.num_heads}


def encoder_block(x, dim, heads, hidden, name):
  """Pre-norm attention and MLP, each added to the residual stream."""
  y = _L.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x)
  query = _L.Dense(dim, name=f"{name}_query")(y)
  key = _L.Dense(dim, name=f"{name}_key")(y)
  value = _L.Dense(dim, name=f"{name}_value")(y)
  y = DotProductAttention(heads, name=f"{name}_attention")(
      [query, key, value])
  y = _L.Dense(dim, name=f"{name}_attention_output")(y)
  x = _L.Add(name=f"{name}_attention_add")([x, y])
  y = _L.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x)
  y = _L.Dense(hidden, name=f"{name}_mlp1")(y)
  y = _L.Activation("gelu", name=f"{name}_mlp_gelu")(y)
  y = _L.Dense(dim, name=f"{name}_mlp2")(y)
  return _L.Add(name=f"{name}_mlp_add")([x, y])


def vit(input_shape, num_classes, width_multiplier=1.0,
        config: ViTConfig = ViTConfig()):
  """The ViT; `width_multiplier` scales the token width and the MLP (the
  width a multiple of the heads)."""
  height, width = input_shape[0], input_shape[1]
  patch = config.patch_size
  if height % patch or width % patch:
    raise ValueError(f"--vit_patch_size={patch} does not divide the "
                     f"{height}x{width} images")
  dim = scaled(config.dim, width_multiplier, divisor=config.heads)
  hidden = scaled(config.dim * config.mlp_ratio, width_multiplier)
  inputs = tf_keras.Input(shape=input_shape, name="image")
  x = _L.Conv2D(dim, patch, strides=patch, name="patch_embedding")(inputs)
  x = _L.Reshape(((height // patch) * (width // patch), dim),
                 name="tokens")(x)
  x = PositionEmbedding(name="position_embedding")(x)
  for block in range(1, config.depth + 1):
    x = encoder_block(x, dim, config.heads, hidden, f"block{block}")
  x = _L.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
  x = _L.GlobalAveragePooling1D(name="avg_pool")(x)
  return tf_keras.Model(inputs, _L.Dense(num_classes, name="head")(x),
                        name="vit")
