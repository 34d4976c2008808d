"""The Python API, in tfmot's shape: each function is the code the
pipeline's stages run, called on your own tf_keras model and arrays.

    import csam_tf
    masks = csam_tf.search_masks(model, train_ds, sparsity=0.7)
    pruned = csam_tf.prune_with_masks(model, masks)
    pruned.compile(...)
    pruned.fit(data, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    final = tfmot.sparsity.keras.strip_pruning(pruned)
    result = csam_tf.certify_model(final, images, labels)
    open("model.tflite", "wb").write(csam_tf.export_tflite(final))
"""

import os
import tempfile
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np
import tensorflow as tf
import tf_keras

from csam_tf import export, tfmot_bridge
from csam_tf.certify import rows as csv_rows
from csam_tf.certify import sampler as certify_sampler
from csam_tf.certify.config import CertifyConfig
from csam_tf.masking.layers import masked_layers
from csam_tf.masking.masked_model import mask_variables
from trainers import finetune, mask_stage
from trainers.finetune_config import FinetuneConfig
from trainers.mask_search_config import MaskSearchConfig


def search_masks(model: tf_keras.Model, train_data, *, sparsity: float,
                 granularity: str = "unstructured",
                 transform: str = "composite", level: str = "L2",
                 steps: int = 150, method: str = "csam",
                 learning_rate: float = 1e-3, seed: int = 0,
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

  >>> masks = csam_tf.search_masks(model, train_ds, sparsity=0.7, steps=150)
  """
  cfg = MaskSearchConfig(method=method, sparsity=sparsity,
                         granularity=granularity, family=transform,
                         level=level, learning_rate=learning_rate, epochs=1,
                         steps_per_epoch=steps, **settings)
  masked, trainer, optimizer = mask_stage.mask_search_trainer(
      model, cfg, seed, steps)
  masks = mask_variables(masked)
  if optimizer is not None:
    trainer.fit(train_data, steps_per_epoch=steps, epochs=1, verbose=0)
  hard = trainer.binarize([tf.convert_to_tensor(m) for m in masks])
  return {layer.name: binary.numpy()
          for layer, binary in zip(masked_layers(masked), hard)}


def prune_with_masks(model: tf_keras.Model, masks: Dict[str, np.ndarray],
                     calibration_data: Optional[Iterable] = None,
                     calibration_batches: int = 50) -> tf_keras.Model:
  """A copy of `model` whose layers named in `masks` (layer name -> 0/1
  array of the kernel's shape, as `search_masks` returns) are tfmot
  `PruneLowMagnitude` wrappers holding those masks, under a schedule that
  never recomputes them; the pruned weights are zero. With
  `calibration_data` (training batches) the BatchNorm statistics are
  re-estimated under the masks first, as the fine-tuning stage does
  (PROTOCOL.md). Fine-tune it with your own `fit` and tfmot's
  `UpdatePruningStep` callback, then `strip_pruning`.

  >>> pruned = csam_tf.prune_with_masks(model, masks, train_ds)
  """
  kept = sum(float(np.sum(m)) for m in masks.values())
  total = sum(np.size(m) for m in masks.values())
  pruned = tfmot_bridge.prune_with_fixed_masks(
      model, masks, 1.0 - kept / max(total, 1))
  if calibration_data is not None:
    finetune.recalibrate_under_masks(
        pruned, model, masks, FinetuneConfig(
            recalibration_batches=calibration_batches), calibration_data)
  return pruned


def certify_model(model_or_tflite: Union[tf_keras.Model, str],
                  images: np.ndarray, labels: np.ndarray, *,
                  family: str = "composite", level: str = "L2",
                  nsamples: int = 100, nbounds: int = 10, delta: float = 0.9,
                  eps: float = 1e-3, bound: str = "ccert", seed: int = 0,
                  full_bounds: bool = False,
                  csv_path: str = "") -> Dict[str, Any]:
  """Probabilistically certified accuracy of a tf_keras model or a .tflite
  file on `images` (float32 in [0, 1], NHWC) under the transformation
  `family` at `level`: the certify stage's sampler and CC-Cert bound, so
  the same model, images and settings give the CLI's numbers. Returns the
  summary (`pca@<eps>`, clean and empirical accuracy, ...) and `rows`, one
  per image. `csv_path` keeps the rows (and resumes from them). (Not
  `csam_tf.certify`: that name is the certification package, whose
  command is `python -m csam_tf.certify`.)

  >>> result = csam_tf.certify_model(model, images, labels)
  >>> result["pca@0.001"]
  """
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels)
  if isinstance(model_or_tflite, str):
    predict = export.LiteRTModel(model_or_tflite)
  else:
    predict = certify_sampler.KerasPredictor(model_or_tflite,
                                             images.shape[1:])
  cfg = CertifyConfig(families=(family,), levels=(level,),
                      num_images=len(images), nsamples=nsamples,
                      nbounds=nbounds, delta=delta, eps=eps, bound=bound,
                      seed=seed, full_bounds=full_bounds)
  with tempfile.TemporaryDirectory() as temp:
    path = csv_path or os.path.join(temp, "rows.csv")
    summary = certify_sampler.certify_model(predict, images, labels, family,
                                            level, cfg, path)
    summary["rows"] = csv_rows.read_rows(path)
  return summary


def export_tflite(model: tf_keras.Model,
                  representative_data: Iterable[np.ndarray] = (), *,
                  int8: bool = False, sparse: bool = False) -> bytes:
  """The .tflite flatbuffer of a (stripped) tf_keras model: float32, or
  full-integer int8 calibrated on `representative_data` (single images,
  a hundred or so), or float32 with the zeros stored sparse-encoded; the
  export stage's converter.

  >>> open("model.tflite", "wb").write(csam_tf.export_tflite(model))
  """
  if int8 and sparse:
    raise ValueError("choose int8 or sparse, not both")
  variant = "int8" if int8 else "sparse" if sparse else "float32"
  representative = list(representative_data)
  if int8 and not representative:
    raise ValueError("int8 needs representative_data: a hundred or so "
                     "training images to calibrate the quantisation")
  return export.convert(model, variant, representative)
