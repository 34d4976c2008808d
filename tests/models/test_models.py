"""The CIFAR-style CNNs: shapes, parameter counts, stems."""

import numpy as np
import pytest
import tf_keras

from csam_tf.models import build_model, copy_model
from csam_tf.models.building_blocks import scaled


def _trainable(model):
  return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("arch", ["resnet18", "resnet10", "googlenet",
                                  "mobilenet_v2"])
@pytest.mark.parametrize("shape,classes", [((28, 28, 1), 10),
                                           ((20, 24, 3), 7)])
def test_any_input_shape_and_class_count(arch, shape, classes):
  model = build_model(arch, shape, classes, width_multiplier=0.125)
  assert isinstance(model, tf_keras.Model)
  out = model(np.random.rand(2, *shape).astype(np.float32), training=False)
  assert out.shape == (2, classes)
  assert np.all(np.isfinite(out.numpy()))


def test_resnet18_matches_the_reference_parameter_count():
  # CIFAR ResNet-18 (kuangliu/pytorch-cifar): 11,173,962 parameters.
  model = build_model("resnet18", (32, 32, 3), 10)
  assert _trainable(model) == 11_173_962


def test_resnet10_is_resnet18_with_one_block_a_stage():
  # ResNet-18's second block of each stage at width w: two 3x3 w->w convs
  # and their BatchNorms' gamma and beta; the rest is shared.
  second_blocks = sum(2 * 9 * w * w + 2 * 2 * w for w in (64, 128, 256, 512))
  assert second_blocks == 6_270_720
  model = build_model("resnet10", (32, 32, 3), 10)
  assert _trainable(model) == 11_173_962 - second_blocks == 4_903_242
  assert model.name == "resnet10"
  convs = [l.name for l in model.layers
           if isinstance(l, tf_keras.layers.Conv2D)]
  assert len(convs) == 1 + 4 * 2 + 3  # stem, 4 blocks, 3 projections
  assert "stage4_block2_1_conv" not in convs


def test_googlenet_parameter_count():
  # kuangliu/pytorch-cifar GoogLeNet has 6,166,250 parameters including a
  # bias in each of its conv layers; ours are bias-free (BN follows every
  # conv), which removes exactly the 7,904 BN channels' worth.
  model = build_model("googlenet", (32, 32, 3), 10)
  bn_channels = sum(layer.gamma.shape[0] for layer in model.layers
                    if isinstance(layer, tf_keras.layers.BatchNormalization))
  assert bn_channels == 7_904
  assert _trainable(model) == 6_166_250 - bn_channels


def test_mobilenet_v2_matches_keras_applications():
  # Same blocks as Keras' MobileNetV2 (only strides differ): same weights.
  ours = build_model("mobilenet_v2", (32, 32, 3), 10)
  reference = tf_keras.applications.MobileNetV2(
      input_shape=(32, 32, 3), alpha=1.0, weights=None, classes=10)
  assert ours.count_params() == reference.count_params() == 2_270_794


@pytest.mark.parametrize("arch,size", [("resnet18", 4), ("resnet10", 4),
                                       ("googlenet", 7), ("mobilenet_v2", 4)])
def test_small_input_stems_keep_resolution(arch, size):
  # CIFAR-style: stride-1 3x3 stem, no early max-pool; 28 -> size at the end
  model = build_model(arch, (28, 28, 1), 10, 0.25)
  stem = model.get_layer("stem_conv")
  assert stem.kernel_size == (3, 3) and stem.strides == (1, 1)
  assert model.get_layer("avg_pool").input_shape[1:3] == (size, size)


def test_width_multiplier_scales_widths():
  model = build_model("resnet18", (28, 28, 1), 10, 0.25)
  assert model.get_layer("stem_conv").filters == 16
  assert model.get_layer("stage4_block2_2_conv").filters == 128
  assert scaled(64, 0.3) == 19 and scaled(16, 0.25, 8) == 8
  assert scaled(96, 0.25, 8) == 24


def test_unknown_architecture():
  with pytest.raises(ValueError, match="choose one of resnet18"):
    build_model("vgg", (28, 28, 1), 10)


def test_copy_model_is_equal_and_separate():
  """copy_model: the same weights and BatchNorm statistics, bit for bit,
  and changing the copy leaves the original as it was."""
  model = build_model("resnet18", (28, 28, 1), 10, width_multiplier=0.0625)
  bn = next(l for l in model.layers if "_bn" in l.name)
  bn.moving_variance.assign(bn.moving_variance + 0.5)
  before = [w.copy() for w in model.get_weights()]
  copy = copy_model(model)
  assert len(copy.get_weights()) == len(before)
  for a, b in zip(copy.get_weights(), before):
    np.testing.assert_array_equal(a, b)
  for variable in copy.weights:
    variable.assign(variable * 0.0)
  for a, b in zip(model.get_weights(), before):
    np.testing.assert_array_equal(a, b)
