"""Binary masks in tfmot wrappers: same function as the masked model, masks
never recomputed, pruned weights exactly zero through fine-tuning and after
strip_pruning."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from csam_tf.masking import tfmot_bridge
from csam_tf.masking import binarize, masked_model
from csam_tf.masking.mask_layers import masked_layers, use_masks
from csam_tf.models import build_model
from trainers.finetune import measured_sparsity
from trainers.pretrain import CrossEntropyTrainer


@pytest.fixture(scope="module")
def setup():
  tf_keras.utils.set_random_seed(0)
  network = build_model("resnet18", (12, 12, 1), 4, 0.125)
  model = masked_model.to_masked_model(network, "unstructured")
  layers = masked_layers(model)
  hard = binarize.binarize([l.soft_mask for l in layers], 0.7)
  masks = {l.name: h.numpy() for l, h in zip(layers, hard)}
  return network, model, layers, hard, masks


def test_wrapped_model_computes_the_binary_masked_function(setup):
  network, model, layers, hard, masks = setup
  pruned = tfmot_bridge.prune_with_fixed_masks(network, masks, 0.7)
  images = np.random.default_rng(1).uniform(0, 1, (5, 12, 12, 1)).astype(
      np.float32)
  with use_masks(layers, hard):
    expected = model(images, training=False).numpy()
  np.testing.assert_allclose(pruned(images, training=False).numpy(),
                             expected, atol=1e-5)
  # the dense network itself is not changed
  assert np.count_nonzero(network.get_layer("stem_conv").kernel.numpy()) == \
      network.get_layer("stem_conv").kernel.numpy().size


def test_fine_tuning_keeps_masks_and_zeros_exactly(setup):
  network, _, _, _, masks = setup
  pruned = tfmot_bridge.prune_with_fixed_masks(network, masks, 0.7)
  trainer = CrossEntropyTrainer(pruned)
  trainer.compile(optimizer=tf_keras.optimizers.SGD(0.1, momentum=0.9))
  rng = np.random.default_rng(2)
  images = rng.uniform(0, 1, (64, 12, 12, 1)).astype(np.float32)
  labels = rng.integers(0, 4, 64)
  before = {l.name: [w.numpy().copy() for w in l.trainable_weights]
            for l in pruned.layers}
  trainer.fit(images, labels, batch_size=16, epochs=2, verbose=0,
              callbacks=[tfmot_bridge.update_step_callback()])
  # the schedule never recomputed the masks
  for name, mask in tfmot_bridge.wrapper_masks(pruned).items():
    np.testing.assert_array_equal(mask, masks[name])
  # the weights did train
  changed = [name for name, weights in before.items() if weights and any(
      not np.array_equal(w, v.numpy()) for w, v in
      zip(weights, pruned.get_layer(name).trainable_weights))]
  assert len(changed) > 10
  stripped = tfmot_bridge.strip(pruned)
  assert not any(l.__class__.__name__ == "PruneLowMagnitude"
                 for l in stripped.layers)
  kept = 0
  for name, mask in masks.items():
    kernel = stripped.get_layer(name).get_weights()[0]
    assert np.all(kernel[mask == 0] == 0.0), name
    assert np.all(kernel[mask == 1] != 0.0), name
    kept += int(mask.sum())
  sparsity = measured_sparsity(stripped, masks)
  assert sparsity["prunable_weights"] - sparsity["zero_weights"] == kept
  # layer-wise top-k: each layer within one weight of the target
  for name, value in sparsity["per_layer"].items():
    assert abs(value - 0.7) <= 1.0 / masks[name].size + 1e-12, name


def test_fixed_schedule_never_prunes():
  schedule = tfmot_bridge.FixedMaskSchedule(0.9)
  for step in (0, 1, 100, 10**6):
    should_prune, sparsity = schedule(tf.constant(step, tf.int64))
    assert not bool(should_prune) and float(sparsity) == pytest.approx(0.9)
  assert schedule.get_config()["config"] == {"sparsity": 0.9}


@pytest.mark.parametrize("total,fraction,frequency,end,expected_frequency", [
    (860, 0.5, 50, 450, 50),   # the bench: 2 epochs of 430 steps
    (4, 0.5, 50, 2, 2),        # short runs shrink the frequency
    (8, 0.5, 2, 4, 2),
    (100, 1.0, 50, 50, 50),    # never past the last step (99)
])
def test_polynomial_decay_ends_on_a_pruning_step(total, fraction, frequency,
                                                 end, expected_frequency):
  schedule = tfmot_bridge.polynomial_decay_schedule(0.9, total, fraction,
                                                    frequency)
  assert (schedule.begin_step, schedule.end_step, schedule.frequency) == (
      0, end, expected_frequency)
  should_prune, sparsity = schedule(tf.constant(end, tf.int64))
  assert bool(should_prune) and float(sparsity) == pytest.approx(0.9)


def test_polynomial_decay_reaches_the_exact_target_while_fitting(setup):
  network, _, _, _, masks = setup
  names = masked_model.prunable_layer_names(network)
  assert set(names) == set(masks)
  pruned = tfmot_bridge.prune_low_magnitude(
      network, names, tfmot_bridge.polynomial_decay_schedule(0.9, 8, 0.5, 2))
  trainer = CrossEntropyTrainer(pruned)
  trainer.compile(optimizer=tf_keras.optimizers.SGD(0.01))
  rng = np.random.default_rng(2)
  images = rng.uniform(0, 1, (32, 12, 12, 1)).astype(np.float32)
  labels = rng.integers(0, 4, 32).astype(np.int32)
  trainer.fit(images, labels, batch_size=8, epochs=2, verbose=0,
              callbacks=[tfmot_bridge.update_step_callback()])
  stripped = tfmot_bridge.strip(pruned)
  sparsity = measured_sparsity(stripped, names)
  for name, value in sparsity["per_layer"].items():
    size = masks[name].size
    assert abs(value - 0.9) <= 1.0 / size + 1e-12, name
  # the dense network is untouched
  assert np.count_nonzero(network.get_layer("stem_conv").kernel.numpy()) == \
      network.get_layer("stem_conv").kernel.numpy().size


def test_polynomial_decay_needs_two_steps():
  with pytest.raises(ValueError, match="at least 2"):
    tfmot_bridge.polynomial_decay_schedule(0.5, 1, 0.5, 50)


def test_global_allocation_gives_each_layer_its_own_tfmot_target(setup):
  """Global magnitude pruning through tfmot: per-layer targets from one |w|
  threshold, each reached by its own PolynomialDecay; together they
  remove the target fraction of all prunable weights."""
  network, _, _, _, masks = setup
  names = masked_model.prunable_layer_names(network)
  targets = tfmot_bridge.global_magnitude_sparsities(network, names, 0.8)
  sizes = {n: network.get_layer(n).get_weights()[0].size for n in names}
  kernels = np.concatenate([np.abs(network.get_layer(n).get_weights()[0])
                            .ravel() for n in names])
  threshold = np.sort(kernels)[int(round(0.8 * kernels.size)) - 1]
  for name in names:
    kernel = np.abs(network.get_layer(name).get_weights()[0])
    assert targets[name] == np.mean(kernel <= threshold)
  assert len(set(targets.values())) > 3  # layers differ
  removed = sum(targets[n] * sizes[n] for n in names)
  assert removed == pytest.approx(0.8 * kernels.size, abs=1)
  pruned = tfmot_bridge.prune_low_magnitude(network, names, {
      n: tfmot_bridge.polynomial_decay_schedule(t, 8, 0.5, 2)
      for n, t in targets.items()})
  trainer = CrossEntropyTrainer(pruned)
  trainer.compile(optimizer=tf_keras.optimizers.SGD(0.0))
  images = np.random.default_rng(2).uniform(0, 1, (32, 12, 12, 1)).astype(
      np.float32)
  labels = np.zeros(32, np.int32)
  trainer.fit(images, labels, batch_size=8, epochs=2, verbose=0,
              callbacks=[tfmot_bridge.update_step_callback()])
  sparsity = measured_sparsity(tfmot_bridge.strip(pruned), names)
  for name, value in sparsity["per_layer"].items():
    assert abs(value - targets[name]) <= 1.0 / sizes[name] + 1e-12, name
