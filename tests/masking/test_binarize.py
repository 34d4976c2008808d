"""Top-k binarisation: exact kept counts, ties, global mode, STE."""

import numpy as np
import pytest
import tensorflow as tf

from csam_tf.masking import binarize


def test_keep_count():
  assert binarize.keep_count(10, 0.5) == 5
  assert binarize.keep_count(11, 0.5) == 5   # round(5.5) = 6 removed
  assert binarize.keep_count(1000, 0.9) == 100
  assert binarize.keep_count(3, 0.99) == 1   # never an empty layer


def test_layerwise_keeps_the_largest_exactly():
  soft = tf.constant([[0.9, 0.1, 0.5], [0.3, 0.8, 0.2]])
  hard = binarize.binarize([soft], 0.5)[0].numpy()
  np.testing.assert_array_equal(hard, [[1, 0, 1], [0, 1, 0]])


def test_ties_do_not_change_the_count():
  soft = tf.fill([4, 25], 0.5)
  for sparsity in (0.5, 0.9, 0.33):
    hard = binarize.binarize([soft], sparsity)[0].numpy()
    assert hard.sum() == binarize.keep_count(100, sparsity)
    assert set(np.unique(hard)) <= {0.0, 1.0}


def test_global_mode_ranks_across_layers():
  a = tf.constant([0.9, 0.8, 0.7, 0.6])
  b = tf.constant([0.1, 0.2, 0.95, 0.05])
  hard_a, hard_b = (h.numpy() for h in binarize.binarize([a, b], 0.5,
                                                          "global"))
  np.testing.assert_array_equal(hard_a, [1, 1, 1, 0])
  np.testing.assert_array_equal(hard_b, [0, 0, 1, 0])
  with pytest.raises(ValueError, match="unknown binarize mode"):
    binarize.binarize([a], 0.5, "blockwise")


def test_straight_through_forward_hard_backward_identity():
  soft = tf.Variable([0.2, 0.7, 0.6])
  weights = tf.constant([1.0, 2.0, 3.0])
  with tf.GradientTape() as tape:
    hard = binarize.binarize([soft], 1 / 3)[0]
    out = binarize.straight_through(soft, hard)
    loss = tf.reduce_sum(weights * out)
  np.testing.assert_array_equal(out.numpy(), [0.0, 1.0, 1.0])
  np.testing.assert_array_equal(tape.gradient(loss, soft).numpy(),
                                [1.0, 2.0, 3.0])


def test_ties_are_broken_by_the_tie_break_score():
  soft = tf.constant([1.0, 1.0, 1.0, 1.0, 0.2])
  magnitude = tf.constant([0.1, 0.9, 0.5, 0.7, 5.0])
  hard = binarize.binarize([soft], 0.6, tie_breaks=[magnitude])[0].numpy()
  # keep 2: both have mask 1; among the four ties, |w| 0.9 and 0.7 win
  np.testing.assert_array_equal(hard, [0, 1, 0, 1, 0])
  hard = binarize.binarize([soft, tf.constant([0.5, 1.0])], 0.5, "global",
                           [magnitude, tf.constant([0.0, 0.95])])
  np.testing.assert_array_equal(hard[0].numpy(), [0, 1, 0, 1, 0])
  np.testing.assert_array_equal(hard[1].numpy(), [0, 1])


def _lexicographic_reference(soft, tie, keep):
  """numpy: sort by soft desc, then tie desc, then index asc; keep the first."""
  order = np.lexsort((np.arange(soft.size), -tie.ravel(), -soft.ravel()))
  hard = np.zeros(soft.size, np.float32)
  hard[order[:keep]] = 1.0
  return hard.reshape(soft.shape)


def test_one_top_k_over_the_tie_order_equals_the_full_lexicographic_sort():
  rng = np.random.default_rng(3)
  # Three soft levels (many ties, as after the percentile init) and
  # tie-breaks with ties of their own (index order decides those).
  soft = rng.choice([0.25, 0.5, 1.0], size=(40, 30)).astype(np.float32)
  tie = rng.choice(np.linspace(0.0, 1.0, 7), size=soft.shape).astype(
      np.float32)
  for sparsity in (0.5, 0.9, 0.97):
    keep = binarize.keep_count(soft.size, sparsity)
    hard = binarize.Binarizer([soft.size], sparsity, "layerwise",
                              [tf.constant(tie)])([tf.constant(soft)])[0]
    np.testing.assert_array_equal(hard.numpy(),
                                  _lexicographic_reference(soft, tie, keep))


def test_binarizer_reuses_its_tie_orders_across_calls():
  soft = tf.Variable(tf.ones([6]))
  binarizer = binarize.Binarizer([6], 0.5, "global",
                                 [tf.constant([1., 6., 2., 5., 3., 4.])])
  np.testing.assert_array_equal(binarizer([soft])[0].numpy(),
                                [0, 1, 0, 1, 0, 1])
  soft.assign([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])  # the masks move, ties do not
  np.testing.assert_array_equal(binarizer([soft])[0].numpy(),
                                [1, 0, 1, 0, 1, 0])
