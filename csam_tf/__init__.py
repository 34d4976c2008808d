"""csam_tf: C-SAM pruning for tf_keras models. The Python API
(`csam_tf.search_masks`, `csam_tf.prune_with_masks`,
`csam_tf.robust_trainer`,
`csam_tf.strip_pruning`, `csam_tf.certify_model`, `csam_tf.export_tflite`) is loaded on first use,
so the commands' flag checks stay free of TensorFlow's import."""

_API = ("search_masks", "prune_with_masks", "robust_trainer",
        "strip_pruning", "certify_model", "export_tflite")


def __getattr__(name):
  if name in _API:
    from csam_tf import api  # pylint: disable=import-outside-toplevel
    return getattr(api, name)
  raise AttributeError(f"module 'csam_tf' has no attribute {name!r}")
