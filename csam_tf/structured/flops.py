"""FLOPs of one forward pass, counted from the tf_keras graph.

Convolutions, dense layers (per token on a ViT's token sequence) and the
ViT's attention products Q K^T and A V (2 FLOPs per multiply-add, bias
adds and softmax ignored): they are all but a few percent of the work in
these networks, and the count is exact and checkable by hand. BatchNorm folds into the conv at
TFLite conversion; activations, pooling and adds are memory-bound and
left out.
"""

from typing import Dict

import numpy as np
import tf_keras

from csam_tf.models.vit import DotProductAttention

_L = tf_keras.layers


def layer_flops(layer) -> int:
  """FLOPs of one image through `layer` (0 for layers not counted)."""
  kind = type(layer)
  if kind is _L.Conv2D:
    _, height, width, out = layer.output_shape
    kh, kw, cin, _ = layer.kernel.shape
    return 2 * height * width * kh * kw * cin * out
  if kind is _L.DepthwiseConv2D:
    _, height, width, out = layer.output_shape
    kh, kw = layer.depthwise_kernel.shape[:2]
    return 2 * height * width * kh * kw * out
  if kind is _L.Dense:
    cin, out = layer.kernel.shape
    return 2 * cin * out * int(np.prod(layer.output_shape[1:-1]))
  if kind is DotProductAttention:
    _, tokens, width = layer.output_shape
    return 2 * 2 * tokens * tokens * width   # Q K^T, then A V, all heads
  return 0


def model_flops(model: tf_keras.Model) -> int:
  """FLOPs of one image through `model`."""
  return sum(layer_flops(layer) for layer in model.layers)


def flops_by_layer(model: tf_keras.Model) -> Dict[str, int]:
  return {layer.name: layer_flops(layer) for layer in model.layers
          if layer_flops(layer)}
