"""Semantic transformations as plug-ins: the protocol's six families and a
user's own (`--transform=package.module:factory`) behind one interface,
used alike by augmentation, the mask search (T in L_ratio and L_stab) and
certification.

A transformation is an object with
  name                 a short identifier ([a-z0-9_]), used in file names
  ranges(level)        {parameter: (low, high)} at protocol level 'L1'/'L2'
  apply(images, params) -> images, TensorFlow ops on NHWC float32 in
                       [0, 1], `params` {parameter: [batch] float32}
The project draws the parameters from `ranges` with its own seeded,
batch-independent sampler (semantic.sample_params), so certification stays
reproducible whatever the plug-in. `load` checks a plug-in before any
expensive work: importable, a factory, the interface, and on a probe batch
the output's shape, dtype and range and that the same parameters give the
same images twice (`check`).

Importing this module does not import TensorFlow (the CLI checks flags
first); a plug-in's module may.
"""

import importlib
import re
from typing import Dict, Optional, Tuple

from csam_tf.transforms import ranges as protocol

_NAME = re.compile(r"^[a-z0-9_]+$")
_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class TransformError(ValueError):
  """A plug-in that cannot be used: one line saying what and how to fix."""


class ProtocolFamily:
  """One of the protocol's families (PROTOCOL.md) as a transformation."""

  def __init__(self, family: str, overrides: Optional[
      Dict[str, Tuple[float, float]]] = None):
    protocol.family_ranges(family, "L2", overrides)  # checks both
    self.name = family
    self._overrides = dict(overrides or {})

  def ranges(self, level: str) -> protocol.Ranges:
    return protocol.family_ranges(self.name, level, self._overrides)

  def apply(self, images, params):
    from csam_tf.transforms import semantic  # pylint: disable=import-outside-toplevel
    return semantic.apply_params(images, params)


def is_plugin(spec: str) -> bool:
  """Whether `spec` names a plug-in (module:factory) or a family."""
  return ":" in spec


def check_spec(spec: str) -> None:
  """The spelling of a family name or a module:factory spec (no import)."""
  if is_plugin(spec):
    if not _SPEC.match(spec):
      raise TransformError(f"--transform={spec}: write package.module:factory"
                           f", e.g. examples.transforms.jpeg:jpeg_quality")
  elif spec not in protocol.FAMILIES:
    raise TransformError(f"unknown transformation {spec!r}: choose one of "
                         f"{', '.join(protocol.FAMILIES)} or give your own "
                         f"as package.module:factory")


def load(spec: str, overrides: Optional[Dict[str, Tuple[float, float]]]
         = None):
  """The transformation `spec` names: a protocol family (with optional
  range overrides) or the object a plug-in's factory returns, checked."""
  check_spec(spec)
  if not is_plugin(spec):
    return ProtocolFamily(spec, overrides)
  if overrides:
    raise TransformError(f"--augment_ranges overrides a protocol family's "
                         f"ranges; {spec} sets its own")
  if spec in _LOADED:  # one object per process: its factory runs once
    return _LOADED[spec]
  module_name, factory_name = spec.split(":")
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    raise TransformError(f"--transform={spec}: cannot import {module_name} "
                         f"({e}); run from the folder that holds it or add "
                         f"it to PYTHONPATH") from None
  factory = getattr(module, factory_name, None)
  if not callable(factory):
    raise TransformError(f"--transform={spec}: {module_name} has no "
                         f"function {factory_name}")
  try:
    transform = factory()
  except Exception as e:  # pylint: disable=broad-except
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise TransformError(f"--transform={spec}: {factory_name}() failed: "
                         f"{first[:300]}") from None
  missing = [a for a in ("name", "ranges", "apply")
             if not hasattr(transform, a)]
  if missing:
    raise TransformError(f"--transform={spec}: the factory's object lacks "
                         f"{', '.join(missing)} (it needs name, "
                         f"ranges(level) and apply(images, params))")
  name = transform.name
  if not isinstance(name, str) or not _NAME.match(name) or (
      name in protocol.FAMILIES):
    raise TransformError(f"--transform={spec}: name {name!r} must be "
                         f"lower-case letters, digits and _, and not a "
                         f"protocol family's")
  _LOADED[spec] = transform
  return transform


_LOADED = {}


def load_checked(specs, image_shape, levels):
  """Every plug-in among `specs` loaded and `check`ed at every level, so
  a broken one stops a run before its first stage (families pass)."""
  for spec in specs:
    if spec != "none" and is_plugin(spec):
      transform = load(spec)
      for level in levels:
        check(transform, image_shape, level, spec)


def level_ranges(transform, level: str, spec: str = "") -> protocol.Ranges:
  """transform.ranges(level), checked: named (low <= high) floats."""
  try:
    ranges = transform.ranges(level)
  except (KeyError, ValueError) as e:
    raise TransformError(f"{spec or transform.name} has no ranges for level "
                         f"{level}: {e}") from None
  if not isinstance(ranges, dict) or not ranges:
    raise TransformError(f"{spec or transform.name}: ranges({level!r}) must "
                         f"be a non-empty {{parameter: (low, high)}}")
  checked = {}
  for name, bounds in ranges.items():
    try:
      low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
      raise TransformError(f"{spec or transform.name}: the range of "
                           f"{name!r} must be (low, high)") from None
    if not low <= high:
      raise TransformError(f"{spec or transform.name}: the range of "
                           f"{name!r} has low > high ({low}, {high})")
    checked[str(name)] = (low, high)
  return checked


def graph_apply(spec: str, transform):
  """`transform.apply`, ready to be traced into any graph: a plug-in's in
  a tf.function of its own, which autograph converts (its Python control
  flow on tensors would otherwise fail where the caller traces without
  autograph: tf_keras' train_step, the training pipeline's epoch map)."""
  if not is_plugin(spec):
    return transform.apply
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.function(transform.apply)


def train_step_drawer(spec: str, level: str):
  """`draw(images, seed)`: the transformation `spec` names applied with
  parameters drawn from `seed` (stateless), for a tf_keras train_step
  (which traces without autograph: `graph_apply`)."""
  from csam_tf.transforms import semantic  # pylint: disable=import-outside-toplevel
  transform = load(spec)
  ranges = level_ranges(transform, level)
  apply = graph_apply(spec, transform)

  def draw(images, seed):
    return semantic.random_transform(images, ranges, seed, apply)

  return draw


def check(transform, image_shape, level: str, spec: str = "") -> None:
  """Runs the transformation on 4 seeded probe images with drawn
  parameters: the output must keep the shape, be float32 in [0, 1], and
  be the same when the same parameters are applied again."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from csam_tf.transforms import semantic  # pylint: disable=import-outside-toplevel
  label = spec or transform.name
  ranges = level_ranges(transform, level, spec)
  images = tf.constant(np.random.default_rng(0).random(
      (4, *image_shape)).astype(np.float32))
  params = semantic.sample_params(ranges, 4, tf.constant([0, 0], tf.int64))
  outputs = [transform.apply(images, params) for _ in range(2)]
  first = outputs[0]
  if not isinstance(first, (tf.Tensor, np.ndarray)):
    raise TransformError(f"{label}: apply returned {type(first).__name__}, "
                         f"not a tensor")
  first = np.asarray(first)
  if first.shape != tuple(images.shape):
    raise TransformError(f"{label}: apply turned images of shape "
                         f"{tuple(images.shape)} into {first.shape}; it must "
                         f"keep the shape")
  if first.dtype != np.float32:
    raise TransformError(f"{label}: apply returned {first.dtype}, not "
                         f"float32")
  if first.min() < 0.0 or first.max() > 1.0 or not np.all(
      np.isfinite(first)):
    raise TransformError(f"{label}: apply returned values in "
                         f"[{first.min():.3g}, {first.max():.3g}]; images "
                         f"must stay in [0, 1] (clip them)")
  if not np.array_equal(first, np.asarray(outputs[1])):
    raise TransformError(f"{label}: the same parameters gave different "
                         f"images twice; certification replays draws, so "
                         f"apply must be deterministic")
