"""`--init_model`: a user's tf_keras model that is none of the built-in
architectures (a residual Add, a depthwise conv, a Concatenate) goes
through the pipeline; every wrong model is one line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tf_keras

from conftest import REPO, custom_model, run_cli
from csam_tf.core.errors import UsageError
from csam_tf.models import init_model


def _saved(model, tmp_path, name="custom.keras"):
  path = str(tmp_path / name)
  model.save(path)
  return path


def test_paths_are_checked_without_tensorflow(tmp_path):
  with pytest.raises(UsageError, match="does not exist"):
    init_model.check_path(str(tmp_path / "missing.keras"))
  (tmp_path / "weights.npz").write_bytes(b"")
  with pytest.raises(UsageError, match="is not a .keras or .h5 file"):
    init_model.check_path(str(tmp_path / "weights.npz"))
  (tmp_path / "folder").mkdir()
  with pytest.raises(UsageError, match="without saved_model.pb"):
    init_model.check_path(str(tmp_path / "folder"))


def test_a_model_that_cannot_be_pruned_as_it_is_is_named(tmp_path):
  with pytest.raises(UsageError, match=r"ends in a softmax \('head'\)"):
    init_model.load(_saved(custom_model(softmax=True), tmp_path, "s.keras"))
  with pytest.raises(UsageError, match=r"inputs of shape \(32, 32, 3\)"):
    init_model.check_against(custom_model((32, 32, 3)), "m.keras",
                             (28, 28, 1), 10)
  with pytest.raises(UsageError, match="has 5 outputs, the data has 10"):
    init_model.check_against(custom_model(classes=5), "m.keras",
                             (28, 28, 1), 10)
  inner = custom_model()
  outer = tf_keras.Sequential([tf_keras.Input((28, 28, 1)), inner])
  with pytest.raises(UsageError, match=f"has layer '{inner.name}', a nested"):
    init_model.load(_saved(outer, tmp_path, "nested.keras"))


def test_a_keras_3_model_is_one_line_saying_how_to_rebuild(tmp_path):
  import keras  # Keras 3, what tf.keras is in TensorFlow >= 2.16
  model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(10)])
  path = str(tmp_path / "k3.keras")
  model.save(path)
  with pytest.raises(UsageError, match="saved by Keras 3.*tf_keras"):
    init_model.load(path)


@pytest.mark.heavy(20)
def test_a_custom_model_is_imported_searched_and_narrowed(tmp_path):
  tf_keras.utils.set_random_seed(0)
  model = custom_model()
  path = _saved(model, tmp_path)
  workdir = tmp_path / "run"
  flags = [f"--workdir={workdir}", f"--init_model={path}",
           "--train_subset=256", "--eval_subset=128", "--batch_size=64",
           "--stages=pretrain,mask,finetune", "--granularity=channel",
           "--mask_steps_per_epoch=2", "--finetune_epochs=1",
           "--finetune_steps_per_epoch=2", "--sparsity=0.5"]
  result = run_cli(*flags)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"pretrain: import {path} (no training)" in result.stdout
  assert f"Summary of {workdir} ({path}, fashion_mnist" in result.stdout
  # run again: every stage is skipped, the imported weights are read back
  again = run_cli(*flags)
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count("finished earlier") == 3
  with open(workdir / "report.json") as f:
    stages = json.load(f)["stages"]
  assert stages["pretrain"]["init_model"] == path
  assert stages["pretrain"]["epochs"] == 0
  # stage 1's output is the user's model, weight for weight
  imported = tf_keras.models.load_model(str(workdir / "pretrain/model.keras"),
                                       compile=False)
  imported.load_weights(str(workdir / "pretrain/best.weights.h5"))
  assert len(imported.get_weights()) == len(model.get_weights()) == 32
  for a, b in zip(model.get_weights(), imported.get_weights()):
    np.testing.assert_array_equal(a, b)
  # channel groups from the graph walker: the branches after the residual
  # block (its Add ties c1 to the stem, kept whole) and the strided conv
  with np.load(workdir / "mask/binary_masks.npz") as masks:
    assert sorted(masks.files) == ["b2", "b3", "bpw"]
    assert {k: int(masks[k].sum()) for k in masks.files} == {
        "b2": 3, "b3": 5, "bpw": 6}
  finetune = stages["finetune"]
  assert finetune["narrow_vs_gated_max_abs_logit_diff"] < 1e-5
  narrow = tf_keras.models.load_model(
      os.path.join(workdir, "finetune/model.keras"), compile=False)
  assert narrow.get_layer("pw").kernel.shape[-1] == 6
  assert narrow.get_layer("c3").kernel.shape[-2] == 6 + 3


def test_a_model_that_does_not_fit_the_data_is_one_line(tmp_path):
  path = _saved(custom_model((32, 32, 3)), tmp_path)
  result = run_cli(f"--workdir={tmp_path / 'run'}", f"--init_model={path}",
                   "--train_subset=256", "--eval_subset=128",
                   "--stages=pretrain", timeout=300)
  assert result.returncode == 2, result.stderr[-3000:]
  lines = [l for l in result.stderr.strip().splitlines() if l.strip()]
  assert len(lines) == 1 and "takes inputs of shape (32, 32, 3)" in lines[0]
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name,options", [("m.keras", {}), ("m.h5", {}),
                                          ("saved", {"save_format": "tf"})])
def test_keras_h5_and_savedmodel_load_as_the_same_model(tmp_path, name,
                                                        options):
  model = custom_model()
  path = str(tmp_path / name)
  model.save(path, **options)
  init_model.check_path(path)
  loaded = init_model.load(path)
  images = np.random.default_rng(0).random((2, 28, 28, 1), np.float32)
  np.testing.assert_array_equal(loaded(images).numpy(),
                                model(images).numpy())


def test_a_layer_csam_tf_cannot_mask_is_named(tmp_path):
  L = tf_keras.layers  # pylint: disable=invalid-name
  tokens = tf_keras.Input((5, 8))
  attended = L.MultiHeadAttention(2, 4, name="mha")(tokens, tokens)
  model = tf_keras.Model(tokens, L.Dense(3)(L.GlobalAveragePooling1D()(
      attended)))
  with pytest.raises(UsageError, match="has layer 'mha', a "
                     "MultiHeadAttention.*csam_tf.models.vit"):
    init_model.load(_saved(model, tmp_path, "mha.keras"))
  images = tf_keras.Input((8, 8, 3))
  model = tf_keras.Model(images, L.Dense(3)(L.Flatten()(L.SeparableConv2D(
      4, 3, name="sep")(images))))
  assert "'sep', a SeparableConv2D" in init_model.structure_problem(model)


def test_a_saved_csam_tf_vit_loads_in_a_fresh_process(tmp_path):
  """The ViT's own layers (position embedding, attention) are registered
  by loading, not by whoever built the model."""
  from csam_tf.models import build_model  # pylint: disable=import-outside-toplevel
  from csam_tf.models.vit_config import ViTConfig  # pylint: disable=import-outside-toplevel
  model = build_model("vit", (28, 28, 1), 10, vit_config=ViTConfig(
      patch_size=7, dim=8, depth=1, heads=2))
  path = _saved(model, tmp_path, "vit.keras")
  code = ("import sys; from csam_tf.models import init_model; "
          "m = init_model.load(sys.argv[1]); print(m.count_params())")
  result = subprocess.run([sys.executable, "-c", code, path], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split()[-1] == str(model.count_params())
