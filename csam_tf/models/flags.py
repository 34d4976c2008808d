"""Flags that choose the architecture."""

from absl import flags

from csam_tf.models.names import ARCHITECTURES

flags.DEFINE_enum("arch", "resnet18", ARCHITECTURES, "Network architecture "
                  "(CIFAR-style small-input stems).")
flags.DEFINE_float("width_multiplier", 1.0, "Multiplies every layer's width "
                   "(the CPU benchmark uses 0.25).", lower_bound=1e-3,
                   upper_bound=8.0)
flags.DEFINE_string("init_model", "", "Your own trained tf_keras model "
                    "(.keras, .h5 or SavedModel folder) instead of --arch: "
                    "stage 1 imports it (no training), every Conv2D, "
                    "DepthwiseConv2D and Dense becomes maskable.")
