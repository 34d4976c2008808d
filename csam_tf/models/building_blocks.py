"""Conv-BN-activation building blocks shared by the three architectures."""

import tf_keras

HE_INIT = "he_normal"


def scaled(channels: int, width_multiplier: float, divisor: int = 1) -> int:
  """Channel count times the width multiplier, rounded to `divisor` (>= 1)."""
  scaled_channels = channels * width_multiplier
  if divisor == 1:
    return max(1, int(round(scaled_channels)))
  rounded = max(divisor,
                int(scaled_channels + divisor / 2) // divisor * divisor)
  if rounded < 0.9 * scaled_channels:  # as MobileNet: never drop over 10%
    rounded += divisor
  return rounded


def conv_bn(x, filters, kernel_size, strides=1, activation="relu", name=None):
  """Bias-free conv, BatchNorm and an optional activation."""
  x = tf_keras.layers.Conv2D(filters, kernel_size, strides=strides,
                             padding="same", use_bias=False,
                             kernel_initializer=HE_INIT,
                             name=f"{name}_conv")(x)
  x = tf_keras.layers.BatchNormalization(name=f"{name}_bn")(x)
  if activation:
    x = tf_keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
  return x


def classifier_head(x, num_classes, name="head"):
  """Global average pool and the dense classifier (logits)."""
  x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
  return tf_keras.layers.Dense(num_classes, name=name)(x)
