"""The mask-search objective as wired in `MaskSearchTrainer`: on a tiny
dense network with fixed mask noise and a fixed T(x), every term, the
weighted total, the pairing of L_ratio and the straight-through gradient
of L_consist are recomputed by hand (numpy forward passes) and compared."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from csam_tf.masking import masked_model
from csam_tf.masking.mask_layers import masked_layers
from trainers.mask_search import MaskSearchTrainer
from trainers.mask_search_config import MaskSearchConfig

# Distinct weights, so a swapped or dropped term changes the total.
LAMBDAS = dict(lambda_stab=2.0, lambda_ratio=3.0, lambda_consist=5.0,
               lambda_l1=7.0, lambda_ce=0.5)
# the paper's ratio (no clip) and per-layer top-k: what the hand computes
CFG = MaskSearchConfig(sparsity=0.5, eta=1.0, mu=0.5, ratio_clip=0.0,
                       binarize="layerwise", **LAMBDAS)


def _network():
  tf_keras.utils.set_random_seed(0)
  inputs = tf_keras.Input((3, 3, 1))
  x = tf_keras.layers.Flatten()(inputs)
  x = tf_keras.layers.Dense(6, activation="relu")(x)
  x = tf_keras.layers.Dense(5, activation="relu")(x)
  return tf_keras.Model(inputs, tf_keras.layers.Dense(4)(x))


def _problem():
  rng = np.random.default_rng(7)
  images = rng.uniform(0, 1, (8, 3, 3, 1)).astype(np.float32)
  transformed = np.clip(images[:, ::-1] + 0.1, 0, 1)  # a fixed "T(x)"
  labels = rng.integers(0, 4, 8).astype(np.int32)
  return images, transformed, labels


def _trainer(cfg, xla=False):
  model = masked_model.to_masked_model(_network(), "unstructured")
  layers = masked_layers(model)
  rng = np.random.default_rng(11)
  for layer in layers:  # soft masks away from 0 and 1: noise is not clipped
    layer.soft_mask.assign(rng.uniform(0.2, 0.9, layer.soft_mask.shape))
  trainer = MaskSearchTrainer(model, dataclasses.replace(cfg, xla=xla),
                              seed=0)
  xi = {draw: [rng.uniform(-cfg.mu, cfg.mu, l.soft_mask.shape).astype(
      np.float32) for l in layers] for draw in (1, 2)}
  # fixed noise: clip(C + xi_k, 0, 1) with xi_k drawn here
  trainer._noisy = lambda soft, seed, draw: [  # pylint: disable=protected-access
      tf.clip_by_value(s + x, 0.0, 1.0) for s, x in zip(soft, xi[draw])]
  return trainer, layers, xi


def _forward(layers, masks, images):
  """The network by hand: relu(x W1*M1 + b1) ... then the classifier,
  which stays whole (PROTOCOL.md v2: it has no mask)."""
  x = images.reshape(len(images), -1).astype(np.float64)
  for layer, mask in zip(layers, masks):
    x = np.maximum(x @ (layer.kernel.numpy() * mask) + layer.bias.numpy(),
                   0.0)
  head = layers[-1].outbound_nodes[0].outbound_layer
  return x @ head.kernel.numpy() + head.bias.numpy()


def _softmax(z):
  e = np.exp(z - z.max(1, keepdims=True))
  return e / e.sum(1, keepdims=True)


def _by_hand(layers, xi, hard, images, transformed, labels, cfg,
             ratio_pair=True):
  soft = [l.soft_mask.numpy().astype(np.float64) for l in layers]
  noisy = {k: [np.clip(s + x, 0, 1) for s, x in zip(soft, xi[k])]
           for k in (1, 2)}
  p = {(k, u): _softmax(_forward(layers, noisy[k], batch))
       for k in (1, 2) for u, batch in (("x", images), ("tx", transformed))}

  def variance(p1, p2):
    mean = (p1 + p2) / 2
    return np.mean((((p1 - mean) ** 2).sum(1) + ((p2 - mean) ** 2).sum(1)) / 2)

  stab = (variance(p[1, "x"], p[2, "x"]) + variance(p[1, "tx"],
                                                      p[2, "tx"])) / 2
  other = p[2, "tx"] if ratio_pair else p[1, "tx"]
  top2 = np.sort(p[1, "x"], 1)[:, -2:]
  r = np.abs(p[1, "x"] - other).max(1) / ((top2[:, 1] - top2[:, 0]) / 2
                                          + 1e-6)
  ratio = np.mean(np.log1p(np.exp(r - cfg.eta)))
  p_soft = _softmax(_forward(layers, soft, images))
  p_bin = _softmax(_forward(layers, hard, images))
  consist = np.mean((p_soft * (np.log(p_soft) - np.log(p_bin))).sum(1))
  l1 = sum(s.sum() for s in soft) / sum(s.size for s in soft)
  ce = np.mean(-np.log(p_soft[np.arange(len(labels)), labels]))
  terms = dict(stab=stab, ratio=ratio, consist=consist, l1=l1, ce=ce)
  terms["loss"] = (cfg.lambda_stab * stab + cfg.lambda_ratio * ratio +
                   cfg.lambda_consist * consist + cfg.lambda_l1 * l1 +
                   cfg.lambda_ce * ce)
  return terms


def _objective(trainer, images, transformed, labels):
  seed = tf.constant([0, 0], tf.int64)
  terms, gradients, _, hard, _, _ = trainer._objective(  # pylint: disable=protected-access
      tf.constant(images), tf.constant(transformed), tf.constant(labels),
      seed, 1.0)
  return ({k: float(v) for k, v in terms.items()},
          [g.numpy() for g in gradients], [h.numpy() for h in hard])


def test_total_is_the_weighted_sum_of_the_terms_by_hand():
  images, transformed, labels = _problem()
  trainer, layers, xi = _trainer(CFG)
  terms, _, hard = _objective(trainer, images, transformed, labels)
  expected = _by_hand(layers, xi, hard, images, transformed, labels, CFG)
  for name, value in expected.items():
    assert terms[name] == pytest.approx(value, rel=1e-4), name
  assert min(expected[k] for k in ("stab", "ratio", "consist")) > 1e-4
  # exact counts: half of every layer kept
  for layer, h in zip(layers, hard):
    assert h.sum() == h.size - round(0.5 * h.size), layer.name


def test_ratio_pairs_p1_of_x_with_p2_of_t_x():
  images, transformed, labels = _problem()
  trainer, layers, xi = _trainer(CFG)
  terms, _, hard = _objective(trainer, images, transformed, labels)
  pair = _by_hand(layers, xi, hard, images, transformed, labels, CFG)
  same = _by_hand(layers, xi, hard, images, transformed, labels, CFG,
                  ratio_pair=False)
  assert abs(pair["ratio"] - same["ratio"]) > 1e-3 * pair["ratio"]
  assert terms["ratio"] == pytest.approx(pair["ratio"], rel=1e-4)
  # --ratio_masks=same is the one that pairs p1(x) with p1(T(x))
  same_trainer, _, _ = _trainer(dataclasses.replace(CFG, ratio_masks="same"))
  same_terms, _, _ = _objective(same_trainer, images, transformed, labels)
  assert same_terms["ratio"] == pytest.approx(same["ratio"], rel=1e-4)


def test_consistency_gradient_passes_straight_through_the_binary_masks():
  """d L_consist / d C = (through the soft masks) + (through the binary
  masks as if they were C): the STE adds the second path."""
  images, transformed, labels = _problem()
  only_consist = dataclasses.replace(
      CFG, lambda_stab=0.0, lambda_ratio=0.0, lambda_l1=0.0, lambda_ce=0.0,
      lambda_consist=1.0)
  trainer, layers, _ = _trainer(only_consist)
  _, gradients, hard = _objective(trainer, images, transformed, labels)
  soft = [tf.Variable(l.soft_mask.numpy().astype(np.float64)) for l in layers]
  binary = [tf.Variable(h.astype(np.float64)) for h in hard]

  def forward(masks):
    x = tf.constant(images.reshape(len(images), -1), tf.float64)
    for layer, mask in zip(layers, masks):
      x = tf.nn.relu(x @ (layer.kernel.numpy().astype(np.float64) * mask) +
                     layer.bias.numpy().astype(np.float64))
    head = layers[-1].outbound_nodes[0].outbound_layer
    return tf.nn.log_softmax(x @ head.kernel.numpy().astype(np.float64) +
                             head.bias.numpy().astype(np.float64))

  with tf.GradientTape() as tape:
    log_soft, log_binary = forward(soft), forward(binary)
    kl = tf.reduce_mean(tf.reduce_sum(tf.exp(log_soft) *
                                      (log_soft - log_binary), -1))
  through_soft, through_binary = tape.gradient(kl, [soft, binary])
  for got, a, b in zip(gradients, through_soft, through_binary):
    np.testing.assert_allclose(got, a.numpy() + b.numpy(), atol=1e-6)
  # the binary path carries gradient (a stop-gradient would drop it)
  assert max(float(np.abs(b.numpy()).max()) for b in through_binary) > 1e-4


def test_xla_compiles_the_noisy_objective_to_the_graph_values():
  """--mask_xla with mu = 0.5: with the same (fixed) noise the compiled
  objective gives the graph's terms and gradients."""
  images, transformed, labels = _problem()
  results = []
  for xla in (False, True):
    trainer, _, _ = _trainer(CFG, xla=xla)
    results.append(_objective(trainer, images, transformed, labels))
  (graph_terms, graph_grads, _), (xla_terms, xla_grads, _) = results
  for name, value in graph_terms.items():
    assert xla_terms[name] == pytest.approx(value, rel=1e-4), name
  for a, b in zip(graph_grads, xla_grads):
    # float32 sums reassociated by XLA: within 1e-4 of each entry or 2e-6
    # of the layer's largest gradient (small entries are differences of
    # large ones)
    np.testing.assert_allclose(b, a, rtol=1e-4,
                               atol=2e-6 * float(np.abs(a).max()))
  assert graph_terms["stab"] > 1e-4  # the two noisy masks differ


@pytest.mark.parametrize("xla", [False, True])
def test_mask_noise_is_uniform_in_minus_mu_mu_and_clipped(xla):
  """The trainer's own noise (not the fixed one above), compiled or not:
  clip(C + xi, 0, 1) with xi ~ U(-mu, mu), two independent draws."""
  model = masked_model.to_masked_model(_network(), "unstructured")
  trainer = MaskSearchTrainer(model, dataclasses.replace(CFG, mu=0.3),
                              seed=0)
  soft = [tf.fill([4000], 0.5), tf.fill([4000], 0.9)]
  draw = tf.function(lambda s, k: trainer._noisy(s, tf.constant(  # pylint: disable=protected-access
      [0, 5], tf.int64), k), jit_compile=xla)
  first = [n.numpy() for n in draw(soft, 1)]
  second = [n.numpy() for n in draw(soft, 2)]
  middle = first[0] - 0.5
  assert middle.min() >= -0.3 and middle.max() <= 0.3
  assert middle.min() < -0.29 and middle.max() > 0.29
  assert abs(middle.mean()) < 0.02 and abs(middle.std() - 0.3 / 3 ** 0.5) < 0.01
  assert first[1].max() == 1.0 and first[1].min() >= 0.6  # clipped at 1
  assert not np.array_equal(first[0], second[0])
