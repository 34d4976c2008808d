"""FLOPs of one forward pass, counted from the tf_keras graph.

Convolutions and dense layers only (2 FLOPs per multiply-add, bias adds
ignored): they are all but a few percent of the work in these CNNs, and the
count is exact and checkable by hand. BatchNorm folds into the conv at
TFLite conversion; activations, pooling and adds are memory-bound and
left out.
"""

from typing import Dict

import tf_keras

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
    return 2 * cin * out
  return 0


def model_flops(model: tf_keras.Model) -> int:
  """FLOPs of one image through `model`."""
  return sum(layer_flops(layer) for layer in model.layers)


def flops_by_layer(model: tf_keras.Model) -> Dict[str, int]:
  return {layer.name: layer_flops(layer) for layer in model.layers
          if layer_flops(layer)}
