"""Flags that choose the architecture."""

from absl import flags

from csam_tf.models.names import ARCHITECTURES
from csam_tf.models.vit_config import ViTConfig

FLAGS = flags.FLAGS

flags.DEFINE_enum("arch", "resnet18", ARCHITECTURES, "Network architecture "
                  "(CIFAR-style small-input stems; resnet18 is the "
                  "benchmark's, resnet10 has one block a stage; vit: a small "
                  "Vision Transformer, shaped by the --vit_* flags).")
flags.DEFINE_float("width_multiplier", 1.0, "Multiplies every layer's width "
                   "(the CPU benchmark uses 0.25).", lower_bound=1e-3,
                   upper_bound=8.0)
flags.DEFINE_string("init_model", "", "Your own trained tf_keras model "
                    "(.keras, .h5 or SavedModel folder) instead of --arch: "
                    "stage 1 imports it (no training), every Conv2D, "
                    "DepthwiseConv2D and Dense becomes maskable.")
flags.DEFINE_integer("vit_patch_size", 4, "--arch=vit: patch side in pixels "
                     "(divides the image side).", lower_bound=1)
flags.DEFINE_integer("vit_dim", 64, "--arch=vit: token width (a multiple "
                     "of --vit_heads).", lower_bound=1)
flags.DEFINE_integer("vit_depth", 6, "--arch=vit: encoder blocks.",
                     lower_bound=1)
flags.DEFINE_integer("vit_heads", 4, "--arch=vit: attention heads per "
                     "block.", lower_bound=1)
flags.DEFINE_float("vit_mlp_ratio", 2.0, "--arch=vit: MLP hidden width / "
                   "token width.", lower_bound=0.01)
flags.register_multi_flags_validator(
    ["vit_dim", "vit_heads"], lambda f: f["vit_dim"] % f["vit_heads"] == 0,
    "--vit_dim must be a multiple of --vit_heads (each head gets "
    "vit_dim / vit_heads channels)")


def vit_config() -> ViTConfig:
  """The --vit_* flags."""
  return ViTConfig(patch_size=FLAGS.vit_patch_size, dim=FLAGS.vit_dim,
                   depth=FLAGS.vit_depth, heads=FLAGS.vit_heads,
                   mlp_ratio=FLAGS.vit_mlp_ratio)
