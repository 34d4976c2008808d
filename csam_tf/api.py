"""The Python API, in tfmot's shape: each function is the code the
pipeline's stages run, called on your own tf_keras model and arrays.
Every function's docstring example runs as it stands (tests/test_api.py).

    import csam_tf
    masks = csam_tf.search_masks(model, train_ds, sparsity=0.7)
    pruned = csam_tf.prune_with_masks(model, masks)
    pruned.compile(...)
    trainer = csam_tf.robust_trainer(pruned)   # or plain cross-entropy
    trainer.compile(optimizer="sgd")
    trainer.fit(data, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    final = csam_tf.strip_pruning(pruned)   # channel mode: the narrow model
    result = csam_tf.certify_model(final, images, labels)
    open("model.tflite", "wb").write(csam_tf.export_tflite(final))
"""

import contextlib
import io
import os
import tempfile
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np
import tensorflow as tf
import tf_keras

from csam_tf import export
from csam_tf.masking import tfmot_bridge
from csam_tf.certify import rows as csv_rows
from csam_tf.certify import certificate as certify_certificate
from csam_tf.certify import predictors as certify_predictors
from csam_tf.certify.config import CertifyConfig
from csam_tf.masking.mask_layers import masked_layers
from csam_tf.masking import masked_model
from csam_tf.models import init_model
from csam_tf.models.vit import DotProductAttention
from csam_tf.masking.masked_model import mask_variables
from trainers import finetune, mask_stage
from trainers.finetune_config import FinetuneConfig
from trainers.mask_search_config import MaskSearchConfig
from trainers.robust import RobustTrainer
from trainers.robust_config import RobustConfig


def _check_model(model) -> None:
  """A one-line ValueError when csam_tf cannot prune `model` as it is."""
  problem = init_model.structure_problem(model)
  if problem:
    raise ValueError(f"the model {problem}")


def search_masks(model: tf_keras.Model, train_data, *, sparsity: float,
                 granularity: str = "unstructured",
                 transform: str = "composite", level: str = "L2",
                 steps: int = 150, method: str = "csam",
                 learning_rate: float = 1e-2, seed: int = 0,
                 **settings) -> Dict[str, np.ndarray]:
  """Stage 2 on your model: the masks C-SAM (or a baseline `method`)
  learns with the weights frozen, over `steps` batches of `train_data`
  (a tf.data.Dataset of (images in [0, 1], integer labels) batches),
  binarised to `sparsity`. Returns {layer name: 0/1 array}: kernel masks
  (unstructured) or channel gates by BatchNorm (channel), what the mask
  stage saves. `settings` are the other MaskSearchConfig fields
  (`lambda_ratio`, `binarize="global"`, `ratio_clip`, ...). The stage runs
  the same trainer; it adds checkpoints and validation. Deterministic
  after `tf_keras.utils.set_random_seed(seed)`, as every stage starts.

  Examples:
      >>> import numpy as np, tensorflow as tf, tf_keras, csam_tf
      >>> L = tf_keras.layers
      >>> model = tf_keras.Sequential([tf_keras.Input((12, 12, 1)),
      ...     L.Conv2D(8, 3), L.BatchNormalization(), L.ReLU(),
      ...     L.Conv2D(16, 3, name="middle"), L.BatchNormalization(), L.ReLU(),
      ...     L.GlobalAveragePooling2D(), L.Dense(10)])
      >>> images = np.random.default_rng(0).random((64, 12, 12, 1), np.float32)
      >>> train_ds = tf.data.Dataset.from_tensor_slices(
      ...     (images, np.arange(64) % 10)).batch(16).repeat()
      >>> masks = csam_tf.search_masks(model, train_ds, sparsity=0.75, steps=2)
      >>> list(masks), int(masks["middle"].sum()), masks["middle"].size
      (['middle'], 288, 1152)

  (The first conv and the classifier stay dense, PROTOCOL.md.)
  """
  _check_model(model)
  if settings.get("search_bn") == "batch_affine":
    raise ValueError("search_bn='batch_affine' learns BatchNorm's gamma and "
                     "beta beside the masks, and search_masks returns masks "
                     "only: use python -m csam_tf.train "
                     "--search_bn=batch_affine")
  cfg = MaskSearchConfig(method=method, sparsity=sparsity,
                         granularity=granularity, family=transform,
                         level=level, learning_rate=learning_rate, epochs=1,
                         steps_per_epoch=steps, **settings)
  masked, trainer, optimizer = mask_stage.mask_search_trainer(
      model, cfg, seed, steps, train_data)
  masks = mask_variables(masked)
  if optimizer is not None:
    trainer.fit(train_data, steps_per_epoch=steps, epochs=1, verbose=0)
  hard = trainer.binarize([tf.convert_to_tensor(m) for m in masks])
  return {layer.name: binary.numpy()
          for layer, binary in zip(masked_layers(masked), hard)}


def _granularity(model: tf_keras.Model, masks: Dict[str, np.ndarray]) -> str:
  """"channel" when every mask gates a BatchNorm's channels (or a
  transformer's heads or MLP channels), "unstructured" when every mask
  covers a kernel; a one-line ValueError otherwise."""
  kinds = set()
  for name, mask in masks.items():
    try:
      layer = model.get_layer(name)
    except ValueError:
      raise ValueError(f"masks name layer {name!r}, which the model does not "
                       f"have: use the names search_masks returns") from None
    shape = np.shape(mask)
    if isinstance(layer, tf_keras.layers.BatchNormalization):
      expected, kind = (layer.weights[0].shape[0],), "channel"
      shape = (int(np.prod(shape)),)
    elif type(layer) is DotProductAttention:        # a ViT's heads
      expected, kind = (layer.num_heads,), "channel"
    elif type(layer) is tf_keras.layers.Activation:  # a ViT's MLP channels
      expected, kind = (layer.output_shape[-1],), "channel"
    else:
      weights = layer.get_weights()
      expected, kind = (weights[0].shape if weights else None), "unstructured"
    if tuple(expected or ()) != tuple(shape):
      raise ValueError(f"the mask for {name!r} has shape {tuple(shape)}; "
                       f"the layer needs {tuple(expected or ())}")
    kinds.add(kind)
  if len(kinds) != 1:
    raise ValueError("masks must be all kernel masks (unstructured) or all "
                     "channel gates by BatchNorm name (channel), not both "
                     "or none")
  return kinds.pop()


def prune_with_masks(model: tf_keras.Model, masks: Dict[str, np.ndarray],
                     calibration_data: Optional[Iterable] = None,
                     calibration_batches: int = 50) -> tf_keras.Model:
  """A copy of `model` that keeps `masks` (as `search_masks` returns them)
  fixed while you fine-tune with your own `fit`, as the fine-tuning stage
  does; `model` is not changed. Kernel masks: tfmot `PruneLowMagnitude`
  wrappers holding them under a schedule that never recomputes them (fit
  with tfmot's `UpdatePruningStep` callback), pruned weights zero. Channel
  gates: a fixed gate after each group's BatchNorms, every weight
  trainable. With `calibration_data` (training batches) the BatchNorm
  statistics are re-estimated under the masks first (PROTOCOL.md). Then
  `csam_tf.strip_pruning` gives the plain (channel mode: narrower) model.

  Examples:
      >>> import numpy as np, tensorflow as tf, tf_keras, csam_tf
      >>> L = tf_keras.layers
      >>> model = tf_keras.Sequential([tf_keras.Input((12, 12, 1)),
      ...     L.Conv2D(8, 3), L.BatchNormalization(), L.ReLU(),
      ...     L.Conv2D(16, 3, name="middle"), L.BatchNormalization(), L.ReLU(),
      ...     L.GlobalAveragePooling2D(), L.Dense(10)])
      >>> masks = {"middle": np.ones((3, 3, 8, 16), np.float32)}
      >>> masks["middle"][..., :4] = 0
      >>> pruned = csam_tf.prune_with_masks(model, masks)
      >>> kernel = csam_tf.strip_pruning(pruned).get_layer("middle").kernel
      >>> int(np.sum(kernel.numpy() == 0))
      288
  """
  _check_model(model)
  granularity = _granularity(model, masks)
  if granularity == "channel":
    pruned = finetune.gated_network(model, masks)
  else:
    kept = sum(float(np.sum(m)) for m in masks.values())
    total = sum(np.size(m) for m in masks.values())
    pruned = tfmot_bridge.prune_with_fixed_masks(
        model, masks, 1.0 - kept / max(total, 1))
  if calibration_data is not None:
    finetune.recalibrate_under_masks(
        pruned, model, masks, FinetuneConfig(
            granularity=granularity,
            recalibration_batches=calibration_batches), calibration_data)
  return pruned


def robust_trainer(model: tf_keras.Model, *, transform: str = "composite",
                   level: str = "L2", total_steps: int = 0, seed: int = 0,
                   **settings) -> tf_keras.Model:
  """A Keras model that trains `model` (dense, or as `prune_with_masks`
  returns it) on the robust objective when you `compile` and `fit` it on
  your own (images in [0, 1], integer labels) batches: cross-entropy over
  the clean image and `views` copies transformed by `transform` at
  `level` (the certificate's), plus `weight` x KL of each view to their
  mean prediction and `entropy` x that mean's entropy. `settings` are the
  other RobustConfig fields (`weight`, `entropy`, `views`, `worst_of`,
  `ramp`, ...); `total_steps` (the steps `fit` will take) places a ramp.
  The stages' `--pretrain_objective=robust` and `--finetune_objective=
  robust` run this trainer. Compile it with an optimizer only (the loss is
  its own); `model` is trained in place.

  Examples:
      >>> import numpy as np, tf_keras, csam_tf
      >>> import tensorflow_model_optimization as tfmot
      >>> L = tf_keras.layers
      >>> model = tf_keras.Sequential([tf_keras.Input((12, 12, 1)),
      ...     L.Conv2D(8, 3), L.BatchNormalization(), L.ReLU(),
      ...     L.Conv2D(16, 3, name="middle"), L.BatchNormalization(), L.ReLU(),
      ...     L.GlobalAveragePooling2D(), L.Dense(10)])
      >>> masks = {"middle": np.ones((3, 3, 8, 16), np.float32)}
      >>> masks["middle"][..., :4] = 0
      >>> pruned = csam_tf.prune_with_masks(model, masks)
      >>> trainer = csam_tf.robust_trainer(pruned, weight=2.0, entropy=0.5)
      >>> trainer.compile(optimizer=tf_keras.optimizers.SGD(0.01))
      >>> images = np.random.default_rng(0).random((32, 12, 12, 1), np.float32)
      >>> history = trainer.fit(images, np.arange(32) % 10, batch_size=16,
      ...     epochs=1, verbose=0,
      ...     callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
      >>> sorted(history.history)
      ['accuracy', 'consistency', 'loss']
      >>> kernel = csam_tf.strip_pruning(pruned).get_layer("middle").kernel
      >>> int(np.sum(kernel.numpy() == 0))   # the masks held
      288
  """
  return RobustTrainer(model, RobustConfig(family=transform, level=level,
                                           **settings), seed, total_steps)


def strip_pruning(model: tf_keras.Model,
                  check_images: Optional[np.ndarray] = None
                  ) -> tf_keras.Model:
  """The plain tf_keras model to certify and export, after fine-tuning:
  tfmot's `strip_pruning` for kernel masks (pruned weights exactly zero);
  for channel gates the physically narrower model (closed channels
  removed, the layers reading them sliced), checked to give its gated
  parent's logits (within 1e-4) on `check_images`, or on 8 seeded random
  images in [0, 1] when none are given.

  Examples:
      >>> import numpy as np, tf_keras, csam_tf
      >>> L = tf_keras.layers
      >>> model = tf_keras.Sequential([tf_keras.Input((12, 12, 1)),
      ...     L.Conv2D(8, 3), L.BatchNormalization(), L.ReLU(),
      ...     L.Conv2D(16, 3), L.BatchNormalization(name="gated"), L.ReLU(),
      ...     L.GlobalAveragePooling2D(), L.Dense(10)])
      >>> gates = {"gated": np.arange(16) % 4 != 0}   # close 4 of 16 channels
      >>> narrow = csam_tf.strip_pruning(csam_tf.prune_with_masks(model, gates))
      >>> narrow.get_layer("gated").gamma.shape
      TensorShape([12])
      >>> model.count_params() - narrow.count_params()  # 4 x (72 + 1 + 4 + 10)
      348
  """
  if any(isinstance(layer, tfmot_bridge.WRAPPER) for layer in model.layers):
    return tfmot_bridge.strip(model)
  gated = masked_layers(model)
  if not gated:
    return model
  gates = {layer.name: layer.active_mask().numpy() for layer in gated}
  folded = masked_model.fold_channel_gates(model)
  if check_images is None:
    shape = (8, *model.input_shape[1:])
    check_images = np.random.default_rng(0).random(shape, np.float32)
  narrow, _ = finetune.remove_closed_channels(folded, gates, folded,
                                              np.asarray(check_images,
                                                         np.float32))
  return narrow


def certify_model(model_or_tflite: Union[tf_keras.Model, str],
                  images: np.ndarray, labels: np.ndarray, *,
                  family: str = "composite", level: str = "L2",
                  nsamples: int = 100, nbounds: int = 10, delta: float = 0.9,
                  eps: float = 1e-3, bound: str = "ccert", seed: int = 0,
                  full_bounds: bool = False, csv_path: str = "",
                  verbose: bool = False) -> Dict[str, Any]:
  """Probabilistically certified accuracy of a tf_keras model or a .tflite
  file on `images` (float32 in [0, 1], NHWC) under the transformation
  `family` (a protocol family, or your own as package.module:factory) at
  `level`: the certify stage's sampler and CC-Cert bound, so the same
  model, images and settings give the CLI's numbers. Returns the summary
  (`pca@<eps>`, clean and empirical accuracy, ...) and `rows`, one per
  image. `csv_path` keeps the rows (and resumes from them); `verbose`
  prints the CLI's progress line. (Not `csam_tf.certify`: that name is the
  certification package, whose command is `python -m csam_tf.certify`.)

  Examples:
      >>> import numpy as np, tf_keras, csam_tf
      >>> L = tf_keras.layers
      >>> model = tf_keras.Sequential([tf_keras.Input((12, 12, 1)),
      ...     L.Conv2D(8, 3), L.GlobalAveragePooling2D(), L.Dense(10)])
      >>> images = np.random.default_rng(0).random((4, 12, 12, 1), np.float32)
      >>> labels = np.argmax(model(images).numpy(), 1)  # all classified right
      >>> result = csam_tf.certify_model(model, images, labels, family="brightness",
      ...                                nsamples=20, nbounds=2)
      >>> result["images"], result["clean_accuracy"], len(result["rows"])
      (4, 1.0, 4)
      >>> certified = [r["certified"] for r in result["rows"]]
      >>> result["pca@0.001"] == sum(certified) / 4
      True
  """
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels)
  if isinstance(model_or_tflite, str):
    predict = export.LiteRTModel(model_or_tflite)
  else:
    predict = certify_predictors.KerasPredictor(model_or_tflite,
                                             images.shape[1:])
  cfg = CertifyConfig(families=(family,), levels=(level,),
                      num_images=len(images), nsamples=nsamples,
                      nbounds=nbounds, delta=delta, eps=eps, bound=bound,
                      seed=seed, full_bounds=full_bounds)
  with tempfile.TemporaryDirectory() as temp:
    path = csv_path or os.path.join(temp, "rows.csv")
    with contextlib.ExitStack() as quiet:
      if not verbose:
        quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
      summary = certify_certificate.certify_model(predict, images, labels,
                                              family, level, cfg, path)
    summary["rows"] = csv_rows.read_rows(path)
  return summary


def export_tflite(model: tf_keras.Model,
                  representative_data: Iterable[np.ndarray] = (), *,
                  int8: bool = False, sparse: bool = False) -> bytes:
  """The .tflite flatbuffer of a (stripped) tf_keras model: float32, or
  full-integer int8 calibrated on `representative_data` (single images,
  a hundred or so), or float32 with the zeros stored sparse-encoded; the
  export stage's converter.

  Examples:
      >>> import numpy as np, tf_keras, csam_tf
      >>> from ai_edge_litert.interpreter import Interpreter
      >>> L = tf_keras.layers
      >>> model = tf_keras.Sequential([tf_keras.Input((12, 12, 1)),
      ...     L.Conv2D(8, 3), L.GlobalAveragePooling2D(), L.Dense(10)])
      >>> flatbuffer = csam_tf.export_tflite(model)
      >>> Interpreter(model_content=flatbuffer).get_input_details()[0]["shape"]
      array([ 1, 12, 12,  1], dtype=int32)
  """
  if int8 and sparse:
    raise ValueError("choose int8 or sparse, not both")
  variant = "int8" if int8 else "sparse" if sparse else "float32"
  representative = list(representative_data)
  if int8 and not representative:
    raise ValueError("int8 needs representative_data: a hundred or so "
                     "training images to calibrate the quantisation")
  return export.convert(model, variant, representative)
