"""Keras glue: layers that hold a soft mask C in [0, 1] beside frozen weights.

Unstructured mode masks the kernel element-wise (`MaskedConv2D`,
`MaskedDepthwiseConv2D`, `MaskedDense`); channel mode gates the output
channels after BatchNorm (`GatedBatchNormalization`), or a transformer's
heads and MLP channels (`GatedDotProductAttention`, `GatedActivation`), so
a closed channel or head outputs exactly zero. The weights of the wrapped layer are created
non-trainable: `model.trainable_weights` are the masks and nothing else.

Which mask a forward pass uses is the override `use_masks` sets for the
duration of one call (a tensor: a noisy or a binarised copy of C) or, by
default, the soft mask itself. Setting it is Python work done while
tracing, so a `tf.function` step pays for it once. Overrides are kept per
thread: MirroredStrategy traces its replicas in parallel threads, each with
its own masks.
"""

import contextlib
import threading
from typing import Iterator, Sequence

import tensorflow as tf
import tf_keras

from csam_tf.models.vit import DotProductAttention

SOFT_MASK = "soft_mask"
_BACKBONE_WEIGHTS = ("kernel", "depthwise_kernel", "bias", "gamma", "beta")


def clip_to_unit(mask):
  """The soft masks' constraint: the optimizer clips them to [0, 1] after
  every update (in the right distribution context)."""
  return tf.clip_by_value(mask, 0.0, 1.0)


class _FrozenBackboneMixin:
  """Creates the wrapped layer's own weights non-trainable, then C.

  With `train_backbone` set before the layer is built it is the other way
  round: the weights train and the mask is fixed (fine-tuning under fixed
  channel gates).
  """

  train_backbone = False

  def add_weight(self, name=None, *args, **kwargs):
    if name in _BACKBONE_WEIGHTS and not self.train_backbone:
      kwargs["trainable"] = False
    return super().add_weight(name, *args, **kwargs)

  def _add_soft_mask(self, shape):
    self.soft_mask = super().add_weight(
        name=SOFT_MASK, shape=shape, initializer="ones",
        trainable=not self.train_backbone, dtype=tf.float32,
        constraint=clip_to_unit)

  def active_mask(self):
    """The mask this forward pass uses."""
    override = getattr(_OVERRIDES, "masks", {}).get(id(self))
    if override is not None:
      return override
    return tf.convert_to_tensor(self.soft_mask)


class _MaskedKernelMixin(_FrozenBackboneMixin):
  """Multiplies the layer's kernel by the active mask in every call."""

  kernel_attr = "kernel"

  def build(self, input_shape):
    super().build(input_shape)
    self._add_soft_mask(self.masked_weight().shape)

  def masked_weight(self):
    return getattr(self, self.kernel_attr)

  def call(self, inputs):
    outputs = self.apply_kernel(inputs,
                                self.masked_weight() * self.active_mask())
    if self.use_bias:
      outputs = tf.nn.bias_add(outputs, self.bias)
    return self.activation(outputs) if self.activation else outputs


class MaskedConv2D(_MaskedKernelMixin, tf_keras.layers.Conv2D):
  """Conv2D whose kernel is multiplied by a per-weight soft mask."""

  def apply_kernel(self, inputs, kernel):
    return self.convolution_op(inputs, kernel)


class MaskedDepthwiseConv2D(_MaskedKernelMixin,
                            tf_keras.layers.DepthwiseConv2D):
  """DepthwiseConv2D whose kernel is multiplied by a soft mask."""

  kernel_attr = "depthwise_kernel"

  def apply_kernel(self, inputs, kernel):
    return tf.nn.depthwise_conv2d(
        inputs, kernel, strides=(1, *self.strides, 1),
        padding=self.padding.upper(), dilations=self.dilation_rate)


class MaskedDense(_MaskedKernelMixin, tf_keras.layers.Dense):
  """Dense whose kernel is multiplied by a per-weight soft mask."""

  def apply_kernel(self, inputs, kernel):
    # The ops Dense.call uses (matmul for rank 2, tensordot above), so a
    # mask of ones gives the plain layer's outputs bit for bit on any CPU:
    # a rank-3 matmul rounds differently from tensordot on some (AVX2).
    rank = inputs.shape.rank
    if rank == 2 or rank is None:
      return tf.matmul(inputs, kernel)
    return tf.tensordot(inputs, kernel, [[rank - 1], [0]])


class SearchBatchNormalization(_FrozenBackboneMixin,
                               tf_keras.layers.BatchNormalization):
  """The BatchNorm of the mask search. Inside `use_batch_statistics()` it
  normalises with the mean and variance of the batch it processes (gamma
  and beta frozen, moving statistics untouched), so normalisation follows
  the masks being searched, as in HYDRA, edge-popup and Lottery Jackpots;
  elsewhere it is a plain BatchNorm (moving statistics)."""

  def call(self, inputs, training=None):
    if getattr(_OVERRIDES, "batch_statistics", False):
      return self._normalize_with_batch_statistics(inputs)
    return super().call(inputs, training=training)

  def _normalize_with_batch_statistics(self, inputs):
    axis = self.axis[0] if isinstance(self.axis, (list, tuple)) else self.axis
    rank = inputs.shape.rank
    mean, variance = tf.nn.moments(
        inputs, [i for i in range(rank) if i != axis % rank])
    return tf.nn.batch_normalization(inputs, mean, variance, self.beta,
                                     self.gamma, self.epsilon)


class GatedBatchNormalization(SearchBatchNormalization):
  """BatchNorm followed by one gate per channel (channel mode).

  The BatchNorms of one channel group share one gate: the first owns the
  variable, the others (`shares_gate`, linked to `gate_owner` once the model
  is cloned) apply the owner's active mask. `masked_weight` is the group's
  channel importance, which initialisation and tie-breaking rank.
  """

  shares_gate = False
  gate_owner = None
  channel_importance = None

  def build(self, input_shape):
    super().build(input_shape)
    self.channels = int(input_shape[-1])
    if not self.shares_gate:
      self._add_soft_mask([self.channels])

  def masked_weight(self):
    return self.channel_importance

  def active_mask(self):
    if not self.shares_gate:
      return super().active_mask()
    if self.gate_owner is None:  # while the clone is being built
      return tf.ones([self.channels])
    return self.gate_owner.active_mask()

  def call(self, inputs, training=None):
    return super().call(inputs, training=training) * self.active_mask()


class _UnitGateMixin(_FrozenBackboneMixin):
  """A fixed number of gates over the layer's output units (channel mode
  on a transformer); `channel_importance` ranks them like a gated
  BatchNorm's."""

  channel_importance = None

  def masked_weight(self):
    return self.channel_importance


class GatedDotProductAttention(_UnitGateMixin, DotProductAttention):
  """One gate per head, on the head's output before the output
  projection: a closed head contributes exactly zero."""

  plain_type = DotProductAttention

  def build(self, input_shape):
    super().build(input_shape)
    self._add_soft_mask([self.num_heads])

  def call(self, inputs):
    context = super().call(inputs)
    depth = context.shape[-1] // self.num_heads
    return context * tf.repeat(self.active_mask(), depth)


class GatedActivation(_UnitGateMixin, tf_keras.layers.Activation):
  """One gate per channel after an MLP's activation."""

  plain_type = tf_keras.layers.Activation

  def build(self, input_shape):
    super().build(input_shape)
    self._add_soft_mask([int(input_shape[-1])])

  def call(self, inputs):
    return super().call(inputs) * self.active_mask()


MASKED_LAYER_TYPES = (MaskedConv2D, MaskedDepthwiseConv2D, MaskedDense,
                      GatedBatchNormalization, GatedDotProductAttention,
                      GatedActivation)
UNIT_GATE_TYPES = (GatedDotProductAttention, GatedActivation)


def masked_layers(model: tf_keras.Model) -> list:
  """The model's layers that own a mask, in graph order."""
  return [layer for layer in model.layers
          if isinstance(layer, MASKED_LAYER_TYPES) and
          not getattr(layer, "shares_gate", False)]


_OVERRIDES = threading.local()


@contextlib.contextmanager
def use_batch_statistics(enabled: bool = True) -> Iterator[None]:
  """Within the block (and this thread), every SearchBatchNormalization
  normalises with its input batch's statistics (`enabled`) or with its
  moving statistics (not)."""
  previous = getattr(_OVERRIDES, "batch_statistics", False)
  _OVERRIDES.batch_statistics = bool(enabled)
  try:
    yield
  finally:
    _OVERRIDES.batch_statistics = previous


@contextlib.contextmanager
def use_masks(layers: Sequence, masks: Sequence[tf.Tensor]) -> Iterator[None]:
  """Within the block (and this thread), each layer's forward pass uses the
  given mask."""
  if len(layers) != len(masks):
    raise ValueError(f"{len(layers)} masked layers, {len(masks)} masks")
  previous = getattr(_OVERRIDES, "masks", {})
  _OVERRIDES.masks = {**previous, **{id(layer): mask
                                     for layer, mask in zip(layers, masks)}}
  try:
    yield
  finally:
    _OVERRIDES.masks = previous
