"""The Python API on a user's model that is none of the built-in
architectures: tfmot wrappers holding the given masks through the user's
own `fit`, certification numbers equal to the CLI's on the same model and
images, .tflite logits equal to Keras's."""

import json

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tensorflow as tf
import tf_keras

import csam_tf
from conftest import custom_model, run_cli
from csam_tf import export
from csam_tf.certify import rows as csv_rows
from csam_tf.certify import certificate as certify_certificate
from csam_tf.data import pipeline
from csam_tf.data.config import DataConfig
from csam_tf.masking.recalibrate import recalibrate_batchnorm
from csam_tf.models import build_model

# The float32 converter reorders float sums: logits within this of Keras's.
FLOAT32_TOLERANCE = 1e-4


def _masks(model, rng):
  """Half of each prunable kernel's entries kept, at random."""
  return {name: (rng.random(model.get_layer(name).kernel.shape) < 0.5
                 ).astype(np.float32) for name in ("c1", "pw", "c2", "c3")}


def test_prune_with_masks_holds_them_through_the_users_fit():
  tf_keras.utils.set_random_seed(0)
  model = custom_model()
  masks = _masks(model, np.random.default_rng(0))
  pruned = csam_tf.prune_with_masks(model, masks)
  pruned.compile(optimizer=tf_keras.optimizers.SGD(0.1),
                 loss=tf_keras.losses.SparseCategoricalCrossentropy(
                     from_logits=True))
  images = np.random.default_rng(1).random((64, 28, 28, 1), np.float32)
  labels = np.arange(64) % 10
  pruned.fit(images, labels, batch_size=16, epochs=2, verbose=0,
             callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  final = tfmot.sparsity.keras.strip_pruning(pruned)
  for name, mask in masks.items():
    kernel = final.get_layer(name).kernel.numpy()
    before = model.get_layer(name).kernel.numpy()
    assert np.all(kernel[mask == 0] == 0), name        # pruned stay zero
    assert np.any(kernel[mask == 1] != before[mask == 1]), name  # trained
  # the other layers are plain layers of the stripped model
  assert type(final.get_layer("c0")) is tf_keras.layers.Conv2D


SEARCH_FLAGS = ["--train_subset=256", "--eval_subset=128", "--batch_size=64",
                "--mask_steps_per_epoch=3", "--sparsity=0.7"]


@pytest.fixture(scope="module")
def certified_by_the_cli(tmp_path_factory):
  """The custom model, trained a little (so some images are classified
  right and get transformations drawn), imported and certified by
  `csam_tf.train`."""
  tf_keras.utils.set_random_seed(0)
  model = custom_model()
  model.compile(optimizer=tf_keras.optimizers.Adam(0.01),
                loss=tf_keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True))
  data = pipeline.load(DataConfig(train_subset=1024, batch_size=64))
  model.fit(data.train(0), epochs=2, verbose=0)
  # 32 steps leave BatchNorm's moving statistics far from the batches'
  recalibrate_batchnorm(model, data.train(0))
  folder = tmp_path_factory.mktemp("api")
  path = str(folder / "custom.keras")
  model.save(path)
  workdir = folder / "run"
  result = run_cli(f"--workdir={workdir}", f"--init_model={path}",
                   *SEARCH_FLAGS, "--stages=pretrain,mask,certify",
                   "--cert_models=dense", "--cert_num_images=6",
                   "--cert_nsamples=10", "--cert_nbounds=2")
  assert result.returncode == 0, result.stderr[-3000:]
  return model, workdir


@pytest.mark.xdist_group("api_cli")
@pytest.mark.heavy(25)
def test_search_masks_gives_the_mask_stages_masks(certified_by_the_cli):
  """Same model, data order, seed and settings: the stage's masks, bit for
  bit (the stage adds checkpoints and validation around the same fit)."""
  model, workdir = certified_by_the_cli
  data = pipeline.load(DataConfig(train_subset=256, eval_subset=128,
                                  batch_size=64))
  tf_keras.utils.set_random_seed(0)  # as the pipeline does at its start
  masks = csam_tf.search_masks(model, data.train(0), sparsity=0.7, steps=3)
  with np.load(workdir / "mask/binary_masks.npz") as stage:
    assert sorted(masks) == sorted(stage.files) == ["c1", "c2", "c3", "dw",
                                                    "pw"]
    for name in stage.files:
      np.testing.assert_array_equal(masks[name], stage[name], err_msg=name)
    # both default to the global allocation: 70% of all their weights
    size = sum(masks[name].size for name in masks)
    assert sum(masks[name].sum() for name in masks) == size - round(0.7 * size)


@pytest.mark.xdist_group("api_cli")
@pytest.mark.heavy(25)
def test_certify_gives_the_clis_rows(certified_by_the_cli):
  model, workdir = certified_by_the_cli
  data = pipeline.load(DataConfig(eval_subset=128))
  images, labels = certify_certificate.first_images(data, 6)
  result = csam_tf.certify_model(model, images, labels, family="composite",
                           level="L2", nsamples=10, nbounds=2)
  cli_rows = csv_rows.read_rows(str(workdir / "certify/dense_composite_L2.csv"))
  assert len(cli_rows) == 6
  assert sum(r["samples"] > 0 for r in cli_rows) >= 2  # something sampled
  assert repr(result["rows"]) == repr(cli_rows)  # nan bounds compare too
  assert result["images"] == 6
  with open(workdir / "report.json") as f:
    cli = json.load(f)["stages"]["certify"]["dense_composite_L2"]
  for key in ("pca@0.001", "pca@0.01", "clean_accuracy", "images",
              "samples_evaluated"):
    assert result[key] == cli[key], key


@pytest.mark.xdist_group("api_cli")
@pytest.mark.heavy(25)
def test_certify_a_tflite_gives_the_keras_verdicts(tmp_path,
                                                   certified_by_the_cli):
  model, _ = certified_by_the_cli
  path = tmp_path / "model.tflite"
  path.write_bytes(csam_tf.export_tflite(model))
  images = np.random.default_rng(0).random((8, 28, 28, 1), np.float32)
  np.testing.assert_allclose(
      export.LiteRTModel(str(path))(images),
      model(images, training=False).numpy(), atol=FLOAT32_TOLERANCE)
  labels = np.argmax(model(images, training=False).numpy(), 1)
  settings = {"nsamples": 10, "nbounds": 2}
  keras = csam_tf.certify_model(model, images, labels, **settings)
  lite = csam_tf.certify_model(str(path), images, labels, **settings)
  assert [r["prediction"] for r in lite["rows"]] == \
      [r["prediction"] for r in keras["rows"]]
  assert lite["clean_accuracy"] == keras["clean_accuracy"] == 1.0


def test_export_tflite_int8_needs_calibration_images():
  with pytest.raises(ValueError, match="int8 needs representative_data"):
    csam_tf.export_tflite(custom_model(), int8=True)
  with pytest.raises(ValueError, match="int8 or sparse"):
    csam_tf.export_tflite(custom_model(), [np.zeros((28, 28, 1))],
                          int8=True, sparse=True)


def test_the_package_loads_the_api_on_first_use():
  with pytest.raises(AttributeError, match="no attribute 'search'"):
    csam_tf.search  # pylint: disable=pointless-statement
  from csam_tf import api
  assert csam_tf.certify_model is api.certify_model


def test_the_docstring_examples_run_as_they_stand():
  import doctest  # pylint: disable=import-outside-toplevel
  from csam_tf import api  # pylint: disable=import-outside-toplevel
  result = doctest.testmod(api)
  assert result.failed == 0
  assert result.attempted >= 35  # the five functions' examples


def test_channel_gates_fine_tune_then_strip_to_the_narrow_model():
  """search_masks(granularity="channel") -> prune_with_masks -> the user's
  fit -> strip_pruning: the physically narrower model, with the gated
  model's logits and exactly the open channels."""
  tf_keras.utils.set_random_seed(0)
  model = custom_model()
  images = np.random.default_rng(1).random((64, 28, 28, 1), np.float32)
  labels = np.arange(64) % 10
  train = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
  gates = csam_tf.search_masks(model, train.repeat(), sparsity=0.5,
                               granularity="channel", method="magnitude")
  # the stem's group (the residual Add and the depthwise conv share it)
  # stays whole (PROTOCOL.md); the pointwise, branch and last convs' groups
  # each close half their channels
  assert {name: (gate.size, int(gate.sum())) for name, gate in
          gates.items()} == {"bpw": (12, 6), "b2": (6, 3), "b3": (10, 5)}
  pruned = csam_tf.prune_with_masks(model, gates, train)
  pruned.compile(optimizer=tf_keras.optimizers.SGD(0.1),
                 loss=tf_keras.losses.SparseCategoricalCrossentropy(
                     from_logits=True))
  pruned.fit(train, epochs=1, verbose=0)
  narrow = csam_tf.strip_pruning(pruned, images[:16])
  np.testing.assert_allclose(narrow(images[:16], training=False).numpy(),
                             pruned(images[:16], training=False).numpy(),
                             atol=1e-4)
  for name, gate in gates.items():
    kept = int(np.sum(gate))
    assert 0 < kept < gate.size, name
    assert narrow.get_layer(name).gamma.shape[0] == kept, name
  assert narrow.count_params() < model.count_params()
  assert not any("Gated" in type(layer).__name__ for layer in narrow.layers)


# GoogLeNet (branches joined by concatenation) with the group norm and
# MobileNetV2 (depthwise convolutions, residual additions) with the L1
# filter norm: the one-shot channel criteria through the trainer and the
# surgery the mask and fine-tuning stages run (the CLI's channel runs:
# tests/pipeline/test_train_cli.py, ResNet with C-SAM and the ViT).
@pytest.mark.parametrize("arch,method", [("googlenet", "group_norm"),
                                         ("mobilenet_v2", "l1_filter")])
def test_channel_criteria_narrow_the_other_architectures(arch, method):
  tf_keras.utils.set_random_seed(0)
  model = build_model(arch, (28, 28, 1), 10, 0.0625)
  images = np.random.default_rng(1).random((64, 28, 28, 1), np.float32)
  train = tf.data.Dataset.from_tensor_slices(
      (images, np.arange(64) % 10)).batch(32)
  gates = csam_tf.search_masks(model, train.repeat(), sparsity=0.5,
                               granularity="channel", method=method)
  closed = sum(gate.size - int(gate.sum()) for gate in gates.values())
  assert closed / sum(gate.size for gate in gates.values()) == \
      pytest.approx(0.5, abs=0.01)
  pruned = csam_tf.prune_with_masks(model, gates, train)
  narrow = csam_tf.strip_pruning(pruned, images[:16])
  np.testing.assert_allclose(narrow(images[:16], training=False).numpy(),
                             pruned(images[:16], training=False).numpy(),
                             atol=1e-5)
  for name, gate in gates.items():
    assert narrow.get_layer(name).gamma.shape[0] == int(gate.sum()), name
  assert narrow.count_params() < model.count_params()


@pytest.mark.parametrize("masks, message", [
    ({"nope": np.ones(3)}, "masks name layer 'nope', which the model does "
     "not have"),
    ({"c1": np.ones((3, 3, 8, 7))}, r"the mask for 'c1' has shape "
     r"\(3, 3, 8, 7\); the layer needs \(3, 3, 8, 8\)"),
    ({"c1": np.ones((3, 3, 8, 8)), "b2": np.ones(6)}, "not both"),
    ({"b0": np.ones(8)}, "'b0' does not gate a prunable channel group"),
])
def test_prune_with_masks_names_what_is_wrong(masks, message):
  with pytest.raises(ValueError, match=message):
    csam_tf.prune_with_masks(custom_model(), masks)


def test_a_model_csam_tf_cannot_prune_is_one_line_saying_why():
  import keras  # pylint: disable=import-outside-toplevel  (Keras 3)
  keras_3 = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(
      4, 3), keras.layers.Flatten(), keras.layers.Dense(10)])
  data = tf.data.Dataset.from_tensor_slices(
      (np.zeros((4, 8, 8, 1), np.float32), np.zeros(4, np.int64))).batch(2)
  with pytest.raises(ValueError, match="the model is a Keras 3 model .*"
                     r"tfmot's pruning wrappers need tf_keras"):
    csam_tf.search_masks(keras_3, data, sparsity=0.5)
  with pytest.raises(ValueError, match=r"ends in a softmax \('head'\)"):
    csam_tf.prune_with_masks(custom_model(softmax=True), {})
  # masks are all search_masks returns: learned gamma and beta would be lost
  with pytest.raises(ValueError, match="search_bn='batch_affine' learns "
                     "BatchNorm's gamma and beta beside the masks"):
    csam_tf.search_masks(custom_model(), data, sparsity=0.5,
                         search_bn="batch_affine")


def test_a_vits_heads_and_mlp_channels_through_the_api():
  from csam_tf.models.vit_config import ViTConfig  # pylint: disable=import-outside-toplevel
  tf_keras.utils.set_random_seed(0)
  model = build_model("vit", (28, 28, 1), 10, vit_config=ViTConfig(
      patch_size=7, dim=16, depth=1, heads=4))
  images = np.random.default_rng(1).random((32, 28, 28, 1), np.float32)
  train = tf.data.Dataset.from_tensor_slices(
      (images, np.arange(32) % 10)).batch(16).repeat()
  gates = csam_tf.search_masks(model, train, sparsity=0.5,
                               granularity="channel", method="magnitude")
  assert {name: (g.size, int(g.sum())) for name, g in gates.items()} == {
      "block1_attention": (4, 2), "block1_mlp_gelu": (32, 16)}
  narrow = csam_tf.strip_pruning(csam_tf.prune_with_masks(model, gates),
                                 images[:8])
  assert narrow.get_layer("block1_attention").num_heads == 2
  assert narrow.get_layer("block1_mlp1").units == 16
