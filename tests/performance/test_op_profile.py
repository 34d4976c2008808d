"""op_profile: TensorFlow's profiler read back per op, split by name scope
(forward and backward apart)."""

import json
from unittest import mock

import numpy as np
import tensorflow as tf

from csam_tf.performance import op_profile


def test_part_of_names_the_first_listed_scope_and_the_backward():
  parts = ("noisy_forward", "binarize")
  assert op_profile.part_of("noisy_forward/resnet/conv/Conv2D",
                            parts) == "noisy_forward"
  assert op_profile.part_of(
      "gradient_tape/noisy_forward/resnet/conv/Conv2DBackpropFilter",
      parts) == "noisy_forward backward"
  assert op_profile.part_of("binarize/TopKV2", parts) == "binarize"
  # A component, not a substring: "binarize_x" is not "binarize".
  assert op_profile.part_of("binarize_x/Add", parts) == "other"
  assert op_profile.part_of("gradient_tape/AddN", parts) == "other backward"


def test_by_part_and_by_type_average_over_steps():
  ops = [op_profile.OpTime("Conv2D", "a/conv", 4, 4000.0),
         op_profile.OpTime("Conv2DBackpropInput", "gradient_tape/a/conv", 4,
                           6000.0),
         op_profile.OpTime("TopKV2", "b/top", 4, 2000.0),
         op_profile.OpTime("Conv2D", "c/conv", 4, 1000.0)]
  assert op_profile.by_part(ops, ("a", "b"), steps=2) == {
      "a backward": 3.0, "a": 2.0, "b": 1.0, "other": 0.5}
  assert op_profile.by_type(ops, steps=2) == {
      "Conv2DBackpropInput": 3.0, "Conv2D": 2.5, "TopKV2": 1.0}


def test_trace_of_a_real_step_finds_its_scopes(tmp_path):
  kernel = tf.Variable(tf.random.stateless_normal([3, 3, 4, 8], [1, 2]))

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      with tf.name_scope("convolve"):
        y = tf.nn.conv2d(x, kernel, 1, "SAME")
      with tf.name_scope("reduce"):
        loss = tf.reduce_sum(tf.square(y))
    return tape.gradient(loss, kernel)

  x = tf.ones([16, 32, 32, 4])
  paths = op_profile.trace(lambda: step(x).numpy(), 3,
                           str(tmp_path / "log"))
  assert len(paths) == 1 and paths[0].endswith(".xplane.pb")
  ops = op_profile.op_times(paths)
  assert all(op.op_type != "IDLE" for op in ops)
  self_us = [op.self_us for op in ops]
  assert self_us == sorted(self_us, reverse=True) and self_us[0] > 0
  parts = op_profile.by_part(ops, ("convolve", "reduce"), 3)
  # The forward conv and its filter gradient land in their own parts.
  assert parts["convolve"] > 0 and parts["convolve backward"] > 0
  conv_types = {op.op_type for op in ops
                if op_profile.part_of(op.name, ("convolve",)) != "other"}
  assert any("Conv2D" in t for t in conv_types)
  assert np.isfinite(sum(parts.values()))


def test_ops_beyond_the_converters_list_are_kept_as_one_entry():
  columns = ["rank", "host_or_device", "type", "operation", "occurrences",
             "total_self_time", "host_total_self_time_percent"]
  rows = [["1", "Host", "IDLE", "IDLE", 0, 100.0, 0.1],
          ["2", "Host", "Conv2D", "a/conv", 2, 600.0, 0.6],
          ["3", "Host", "AddV2", "b/add", 2, 200.0, 0.2]]
  table = [{"cols": [{"id": c} for c in columns],
            "rows": [{"c": [{"v": v} for v in row]} for row in rows]}]
  from tensorflow.python.profiler.internal import (
      _pywrap_profiler_plugin as converter)
  with mock.patch.object(converter, "xspace_to_tools_data",
                         return_value=(json.dumps(table).encode(), True)):
    ops = op_profile.op_times(["trace.xplane.pb"])
  # 1,000 us in all (600 / 0.6), 100 idle, 800 listed: 100 unlisted.
  assert ops == [op_profile.OpTime("Conv2D", "a/conv", 2, 600.0),
                 op_profile.OpTime("AddV2", "b/add", 2, 200.0),
                 op_profile.OpTime(op_profile.UNLISTED, op_profile.UNLISTED,
                                   0, 100.0)]
  assert op_profile.by_part(ops, ("a",), 1) == {
      "a": 0.6, "other": 0.2, op_profile.UNLISTED: 0.1}
