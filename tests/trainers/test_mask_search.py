"""Stage-2 trainer: only the masks move, the backbone (weights and
BatchNorm statistics) stays bit-identical, masks stay in [0, 1]."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import custom_model, layerwise_search
from csam_tf.masking import masked_model
from csam_tf.masking.mask_layers import masked_layers
from csam_tf.masking.recalibrate import batchnorm_layers
from csam_tf.models import build_model
from csam_tf.models.vit_config import ViTConfig
from trainers.mask_search import MaskSearchTrainer


def _tiny_problem():
  rng = np.random.default_rng(0)
  images = rng.uniform(0, 1, (32, 12, 12, 1)).astype(np.float32)
  labels = rng.integers(0, 4, 32).astype(np.int32)
  return images, labels


# (ResNet-10: the blocks of ResNet-18, half as many to trace)
@pytest.mark.parametrize("arch,granularity", [
    ("resnet10", "unstructured"), ("resnet10", "channel"),
    ("vit", "unstructured"), ("vit", "channel")])
def test_only_masks_change(arch, granularity):
  tf_keras.utils.set_random_seed(0)
  network = build_model(arch, (12, 12, 1), 4, 0.125, ViTConfig(
      patch_size=4, dim=16, depth=1, heads=2))
  model = masked_model.to_masked_model(network, granularity)
  masks = {m.ref() for m in masked_model.mask_variables(model)}
  backbone = {v.name: v.numpy().copy() for v in model.variables
              if v.ref() not in masks}
  before = [m.numpy().copy() for m in masked_model.mask_variables(model)]
  trainer = MaskSearchTrainer(model, layerwise_search(
      learning_rate=0.05, lambda_l1=1.0, lambda_ce=1.0,
      granularity=granularity), seed=1)
  trainer.compile(optimizer=tf_keras.optimizers.Adam(0.05))
  images, labels = _tiny_problem()
  history = trainer.fit(images, labels, batch_size=16, epochs=2, verbose=0)
  for name, value in backbone.items():
    now = next(v for v in model.variables if v.name == name).numpy()
    np.testing.assert_array_equal(now, value, err_msg=name)
  after = [m.numpy() for m in masked_model.mask_variables(model)]
  assert any(not np.array_equal(a, b) for a, b in zip(after, before))
  assert all(a.min() >= 0.0 and a.max() <= 1.0 for a in after)
  for term in ("loss", "stab", "ratio", "consist", "l1", "ce",
               "mask_mean", "flip_fraction", "agreement"):
    assert np.all(np.isfinite(history.history[term])), term
  assert len(backbone) > (50 if arch == "resnet10" else 12)
  if arch == "vit" and granularity == "channel":
    # C-SAM's channel search on a ViT: one gate per head and per MLP
    # channel, and the search moved both kinds
    gated = {type(layer).__name__: layer for layer in masked_layers(model)}
    assert set(gated) == {"GatedDotProductAttention", "GatedActivation"}
    assert gated["GatedDotProductAttention"].soft_mask.shape == (2,)
    for layer in gated.values():
      start = before[[m.ref() for m in masked_model.mask_variables(
          model)].index(layer.soft_mask.ref())]
      assert not np.array_equal(layer.soft_mask.numpy(), start), layer.name


def test_batch_affine_learns_gamma_and_beta_beside_the_masks():
  # a small model: the property is the trainer's
  tf_keras.utils.set_random_seed(0)
  network = custom_model((12, 12, 1), 4)
  model = masked_model.to_masked_model(network)
  masks = masked_model.mask_variables(model)
  trainer = MaskSearchTrainer(model, layerwise_search(
      learning_rate=0.05, lambda_ce=1.0, search_bn="batch_affine"), seed=1)
  affine = {v.ref() for v in trainer.learned_variables[len(masks):]}
  assert len(affine) == 2 * len(batchnorm_layers(model)) > 0
  before = {v.name: v.numpy().copy() for v in model.variables}
  trainer.compile(optimizer=tf_keras.optimizers.Adam(0.05))
  images, labels = _tiny_problem()
  trainer.fit(images, labels, batch_size=16, epochs=1, verbose=0)
  moved = {v.name for v in model.variables
           if not np.array_equal(v.numpy(), before[v.name])}
  learned = {v.name for v in model.variables if v.ref() in affine}
  mask_names = {m.name for m in masks}
  # gamma and beta move with the masks; kernels and moving statistics not
  assert learned & moved == learned and mask_names & moved
  assert moved <= learned | mask_names


def test_same_seed_same_masks():
  # a small model: the property is the trainer's, and tracing ResNet-18's
  # step twice was 20 s of this test
  results = []
  for _ in range(2):
    tf_keras.utils.set_random_seed(0)
    network = custom_model((12, 12, 1), 4)
    model = masked_model.to_masked_model(network, "unstructured")
    trainer = MaskSearchTrainer(model, layerwise_search(), seed=3)
    trainer.compile(optimizer=tf_keras.optimizers.Adam(0.05))
    images, labels = _tiny_problem()
    trainer.fit(images, labels, batch_size=16, epochs=1, verbose=0,
                shuffle=False)
    results.append([m.numpy() for m in masked_model.mask_variables(model)])
  for a, b in zip(*results):
    np.testing.assert_array_equal(a, b)
  # ... and the two searches moved them (the same result is not the init)
  moved = [np.abs(a - i.numpy()).max()
           for a, i in zip(results[0], trainer.initial_masks)]
  assert max(moved) > 1e-3, moved


def test_binarising_the_initial_masks_is_magnitude_pruning():
  """With the percentile init, C*|w| orders weights as |w| does, so the
  first binary masks are layer-wise magnitude pruning (exact counts)."""
  tf_keras.utils.set_random_seed(0)
  network = build_model("resnet18", (12, 12, 1), 4, 0.125)
  model = masked_model.to_masked_model(network, "unstructured")
  trainer = MaskSearchTrainer(model, layerwise_search(sparsity=0.6))
  masks = masked_model.mask_variables(model)
  hard = trainer.binarize([tf.convert_to_tensor(m) for m in masks])
  for layer, binary in zip(masked_layers(model), hard):
    magnitude = np.abs(layer.kernel.numpy()).ravel()
    keep = int(binary.numpy().sum())
    assert keep == magnitude.size - int(round(0.6 * magnitude.size))
    expected = np.zeros(magnitude.size)
    expected[np.argsort(-magnitude, kind="stable")[:keep]] = 1
    np.testing.assert_array_equal(binary.numpy().ravel(), expected,
                                  err_msg=layer.name)


def test_xla_objective_takes_the_same_step():
  """Without mask noise (XLA draws its own random stream) the compiled
  objective gives the graph's gradients, up to float rounding."""
  masks = []
  for xla in (False, True):
    tf_keras.utils.set_random_seed(0)
    # A small conv-BN-ReLU net: the objective is the same code for any
    # network, and XLA compiles this one in seconds, not a minute.
    inputs = tf_keras.Input((12, 12, 1))
    x = tf_keras.layers.Conv2D(8, 3, use_bias=False)(inputs)
    x = tf_keras.layers.BatchNormalization()(x)
    x = tf_keras.layers.ReLU()(x)
    x = tf_keras.layers.Conv2D(8, 3, strides=2, use_bias=False)(x)
    x = tf_keras.layers.BatchNormalization()(x)
    x = tf_keras.layers.ReLU()(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    network = tf_keras.Model(inputs, tf_keras.layers.Dense(4)(x))
    model = masked_model.to_masked_model(network, "unstructured")
    trainer = MaskSearchTrainer(model, layerwise_search(xla=xla, mu=0.0),
                                seed=3)
    trainer.compile(optimizer=tf_keras.optimizers.SGD(0.05))
    initial = [m.numpy() for m in masked_model.mask_variables(model)]
    images, labels = _tiny_problem()
    trainer.fit(images[:16], labels[:16], batch_size=16, epochs=1,
                verbose=0, shuffle=False)
    masks.append([m.numpy() for m in masked_model.mask_variables(model)])
  moved = 0.0
  for graph, compiled, start in zip(*masks, initial):
    # BatchNorm on batch statistics: XLA orders the moment reductions
    # differently, which moves a step by up to ~1e-4 (of ~0.05)
    np.testing.assert_allclose(compiled, graph, atol=2e-4)
    moved = max(moved, float(np.abs(graph - start).max()))
  assert moved > 1e-2  # the step did move the masks


def test_cubic_schedule_raises_the_binary_target_then_holds():
  """Zhu and Gupta: s_t = s (1 - (1 - p)^3), p from schedule_begin to
  schedule_end of the search; the binary masks keep exactly that many."""
  tf_keras.utils.set_random_seed(0)
  network = build_model("resnet18", (12, 12, 1), 4, 0.125)
  model = masked_model.to_masked_model(network, "unstructured")
  cfg = layerwise_search(sparsity=0.8, sparsity_schedule="cubic",
                         schedule_begin=0.2, schedule_end=0.6)
  trainer = MaskSearchTrainer(model, cfg, total_steps=100)
  trainer.compile(optimizer=tf_keras.optimizers.Adam(0.0))
  masks = [tf.convert_to_tensor(m) for m in
           masked_model.mask_variables(model)]
  for step, expected in ((0, 0.0), (20, 0.0), (30, 0.8 * (1 - 0.75 ** 3)),
                         (40, 0.8 * (1 - 0.5 ** 3)), (60, 0.8), (99, 0.8)):
    trainer.optimizer.iterations.assign(step)
    target = float(trainer.sparsity_target())
    assert target == pytest.approx(expected, abs=1e-6), step
    hard = trainer.binarize(masks, trainer.sparsity_target())
    for h in hard:
      n = h.shape.num_elements()
      assert int(h.numpy().sum()) == max(1, n - int(round(target * n)))
  constant = MaskSearchTrainer(model, layerwise_search(sparsity=0.8),
                               total_steps=100)
  assert float(constant.sparsity_target()) == pytest.approx(0.8)


def test_diagnostics_start_at_magnitude_pruning_and_see_the_masks_move():
  tf_keras.utils.set_random_seed(0)
  network = build_model("resnet18", (12, 12, 1), 4, 0.125)
  model = masked_model.to_masked_model(network, "unstructured")
  trainer = MaskSearchTrainer(model, layerwise_search(sparsity=0.7), seed=1)
  start = trainer.search_diagnostics()
  # percentile init: top-k of C * |w| is magnitude top-k, nothing moved
  assert start["mask_moved"] == 0.0
  assert start["magnitude_overlap"] == 1.0
  assert set(start["magnitude_overlap_per_layer"].values()) == {1.0}
  masks = masked_model.mask_variables(model)
  rng = np.random.default_rng(0)
  masks[0].assign(rng.uniform(0, 1, masks[0].shape))  # one layer scrambled
  moved = trainer.search_diagnostics()
  first = masked_layers(model)[0].name
  expected_move = float(np.abs(masks[0].numpy() - trainer.initial_masks[
      0].numpy()).sum() / sum(m.shape.num_elements() for m in masks))
  assert moved["mask_moved"] == pytest.approx(expected_move, rel=1e-5)
  assert moved["magnitude_overlap_per_layer"][first] < 0.9
  assert moved["magnitude_overlap"] < 1.0


def test_global_allocation_measures_against_global_magnitude_pruning():
  """--binarize=global ranks raw |w| across layers: the magnitude masks
  the search is compared with are global magnitude pruning (numpy)."""
  tf_keras.utils.set_random_seed(0)
  network = build_model("resnet18", (12, 12, 1), 4, 0.125)
  model = masked_model.to_masked_model(network, "unstructured")
  trainer = MaskSearchTrainer(model, layerwise_search(sparsity=0.7,
                                                      binarize="global"))
  kernels = [np.abs(l.kernel.numpy()).ravel() for l in masked_layers(model)]
  everything = np.concatenate(kernels)
  keep = everything.size - int(round(0.7 * everything.size))
  threshold = np.sort(everything)[::-1][keep - 1]
  kept = [int(m.numpy().sum()) for m in trainer.magnitude_masks]
  assert sum(kept) == keep
  for kernel, mask in zip(kernels, trainer.magnitude_masks):
    np.testing.assert_array_equal(mask.numpy().ravel(),
                                  (kernel >= threshold).astype(np.float32))
  assert len(set(round(k / m.numpy().size, 3) for k, m in zip(
      kept, trainer.magnitude_masks))) > 3  # layers keep different shares


class _FlipWhenBright(tf_keras.layers.Layer):
  """A user's layer with Python control flow on a tensor."""

  def call(self, inputs):
    if tf.reduce_mean(inputs) > 1e3:
      return -inputs
    return inputs


class _Dimmer:
  """A user's plug-in transformation with Python control flow on a
  tensor."""

  name = "dimmer"

  def ranges(self, level):
    return {"strength": (0.0, 0.5)}

  def apply(self, images, params):
    strength = tf.reshape(params["strength"], [-1, 1, 1, 1])
    if tf.reduce_max(strength) > 0.0:
      return images * (1.0 - strength)
    return images


def dimmer():
  return _Dimmer()


def test_the_users_layers_and_transformation_are_converted_by_autograph():
  """tf_keras traces train_step without autograph: a plug-in's `apply`
  with a Python `if` on a tensor failed in the search (while augmentation
  and certification converted it); a user's layer is converted by
  tf_keras itself."""
  tf_keras.utils.set_random_seed(0)
  inputs = tf_keras.Input((12, 12, 1))
  x = tf_keras.layers.Conv2D(4, 3, use_bias=False, name="stem")(inputs)
  x = tf_keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(x)
  x = tf_keras.layers.BatchNormalization(name="bn")(x)
  x = _FlipWhenBright()(x)
  x = tf_keras.layers.GlobalAveragePooling2D()(x)
  network = tf_keras.Model(inputs, tf_keras.layers.Dense(4, name="head")(x))
  model = masked_model.to_masked_model(network, "unstructured")
  trainer = MaskSearchTrainer(model, layerwise_search(
      family=f"{__name__}:dimmer"), seed=0)
  trainer.compile(optimizer=tf_keras.optimizers.Adam(0.05))
  images, labels = _tiny_problem()
  history = trainer.fit(images, labels, batch_size=16, epochs=1, verbose=0)
  assert np.isfinite(history.history["loss"][0])
  assert len(masked_model.mask_variables(model)) == 1  # conv's


def test_each_step_draws_its_own_noise_and_t_and_a_resumed_step_the_same():
  from conftest import losses_by_step  # pylint: disable=import-outside-toplevel
  tf_keras.utils.set_random_seed(0)
  model = masked_model.to_masked_model(custom_model((12, 12, 1), 4),
                                       "unstructured")
  trainer = MaskSearchTrainer(model, layerwise_search(), seed=3)
  trainer.compile(optimizer=tf_keras.optimizers.Adam(0.05))
  images, labels = _tiny_problem()
  first, again, other, later = losses_by_step(
      trainer, masked_model.mask_variables(model), images[:16], labels[:16],
      (5, 5, 6, 7))
  assert first == again
  assert len({first, other, later}) == 3
