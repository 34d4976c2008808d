"""Stage 3's start: the fixed masks' network gets BatchNorm statistics
re-estimated under the masks (PROTOCOL.md), through tfmot's wrappers."""

import numpy as np
import tf_keras

from csam_tf.masking import tfmot_bridge
from csam_tf.masking import masked_model
from csam_tf.models import build_model
from trainers.finetune import recalibrate_under_masks
from trainers.finetune_config import FinetuneConfig


def test_fixed_masks_start_with_statistics_of_the_masked_network():
  tf_keras.utils.set_random_seed(0)
  network = build_model("resnet18", (12, 12, 1), 4, 0.125)
  names = masked_model.prunable_layer_names(network)
  masks = {n: np.ones_like(network.get_layer(n).get_weights()[0])
           for n in names}
  # a whole conv closed: the BatchNorm after it sees exact zeros
  masks["stage1_block1_1_conv"][...] = 0.0
  pruned = tfmot_bridge.prune_with_fixed_masks(network, masks, 0.5)
  bn = pruned.get_layer("stage1_block1_1_bn")
  bn.moving_mean.assign(np.full(bn.moving_mean.shape, 3.0))
  images = [np.random.default_rng(i).uniform(0, 1, (16, 12, 12, 1)).astype(
      np.float32) for i in range(3)]
  used = recalibrate_under_masks(pruned, network, masks,
                                  FinetuneConfig(recalibration_batches=2),
                                  iter(images))
  assert used == 2
  np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)
  np.testing.assert_array_equal(bn.moving_variance.numpy(), 0.0)
  # an open layer's statistics are the masked network's, not the dense
  # network's initial ones (mean 0, variance 1)
  other = pruned.get_layer("stage2_block1_1_bn")
  assert np.abs(other.moving_variance.numpy() - 1.0).max() > 1e-3
  # the dense network is untouched
  assert network.get_layer("stage1_block1_1_bn").moving_mean.numpy().max() \
      == 0.0 and np.count_nonzero(
          network.get_layer("stage1_block1_1_conv").kernel.numpy()) > 0
