"""Channel-group importance computed by hand, not by the function the
stage uses: on a graph whose residual Add ties two convs (with their
BatchNorms) and whose group is read by a 1x1 conv and, after pooling, by
a Dense, the scores are the sums written out below."""

import numpy as np
import pytest
import tf_keras

from csam_tf.masking import masked_model
from csam_tf.structured import group_importance
from csam_tf.structured.dependency_graph import channel_graph

L = tf_keras.layers


def _residual_model():
  inputs = tf_keras.Input((6, 6, 2))
  stem = L.ReLU()(L.BatchNormalization(name="stem_bn")(
      L.Conv2D(3, 3, padding="same", use_bias=False, name="stem")(inputs)))
  main = L.BatchNormalization(name="b_bn")(
      L.Conv2D(4, 3, padding="same", use_bias=False, name="b")(stem))
  short = L.BatchNormalization(name="s_bn")(
      L.Conv2D(4, 1, use_bias=False, name="s")(stem))
  joined = L.ReLU()(L.Add()([main, short]))
  after = L.BatchNormalization(name="c_bn")(
      L.Conv2D(5, 1, use_bias=False, name="c")(joined))
  pooled = L.Concatenate()([L.GlobalAveragePooling2D()(joined),
                            L.GlobalAveragePooling2D()(after)])
  model = tf_keras.Model(inputs, L.Dense(3, name="head")(pooled))
  rng = np.random.default_rng(0)
  model.set_weights([rng.normal(0, 1, w.shape).astype(np.float32)
                     for w in model.get_weights()])
  return model


def _w(model, name, index=0):
  return np.asarray(model.get_layer(name).get_weights()[index], np.float64)


def test_the_residual_groups_scores_by_hand():
  model = _residual_model()
  graph = channel_graph(model)
  tied = next(g for g in graph.groups if "b" in g.producers)
  assert sorted(tied.producers) == ["b", "s"] and tied.prunable
  b, s, c, head = (_w(model, n) for n in ("b", "s", "c", "head"))
  gamma_b, gamma_s = _w(model, "b_bn"), _w(model, "s_bn")
  # filter L1 norm (Li et al.): |w| of both producers' filters, per channel
  l1 = np.abs(b).sum(axis=(0, 1, 2)) + np.abs(s).sum(axis=(0, 1, 2))
  np.testing.assert_allclose(
      group_importance.group_scores(model, tied, "l1_filter"), l1,
      rtol=1e-12)
  # DepGraph group norm: the L2 norm over every coupled parameter, the
  # producers' filters, both BatchNorms' scales, and what reads the group:
  # c's input slices and the head's rows for the pooled group (the first
  # 4 of its 9 inputs, the Concatenate's first part)
  squares = ((b ** 2).sum(axis=(0, 1, 2)) + (s ** 2).sum(axis=(0, 1, 2)) +
             gamma_b ** 2 + gamma_s ** 2 + (c[0, 0] ** 2).sum(axis=1) +
             (head[:4] ** 2).sum(axis=1))
  np.testing.assert_allclose(
      group_importance.group_scores(model, tied, "group_norm"),
      np.sqrt(squares), rtol=1e-12)
  # and what the mask stage reads: the same, keyed by the first BatchNorm
  stage = masked_model.channel_group_scores(model, "group_norm")
  np.testing.assert_allclose(stage[tied.batchnorms[0]], np.sqrt(squares),
                             rtol=1e-12)


def test_an_unknown_criterion_is_refused():
  model = _residual_model()
  group = channel_graph(model).prunable_groups()[0]
  with pytest.raises(ValueError, match="unknown group importance"):
    group_importance.group_scores(model, group, "taylor2")
