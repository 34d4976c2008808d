"""Flags of the certification stage of `csam_tf.train`: the settings as
--cert_<name> (setting_flags), and which models the stage certifies."""

from absl import flags

from csam_tf.transforms import flags as transform_flags
from csam_tf.transforms import ranges as transform_ranges
from csam_tf.certify import setting_flags
from csam_tf.certify.config import CertifyConfig

CERTIFIED_MODELS = ("dense", "pruned")

flags.DEFINE_list("cert_models", list(CERTIFIED_MODELS), "Models the "
                  "certify stage certifies: dense (stage 1) and/or pruned "
                  "(stage 3, when it has run).")
setting_flags.define("cert_", num_images=100)

FLAGS = flags.FLAGS


@flags.validator("cert_models", message="--cert_models takes dense and/or "
                 "pruned")
def _known_models(values):
  return bool(values) and all(v in CERTIFIED_MODELS for v in values)


@flags.validator("cert_families", message="--cert_families takes names from "
                 + ", ".join(transform_ranges.FAMILIES) + " or "
                 "package.module:factory specs")
def _known_families(values):
  return bool(values) and transform_flags.spec_checker("cert_families")(
      values)


@flags.validator("cert_levels", message="--cert_levels takes L1 and/or L2")
def _known_levels(values):
  return bool(values) and all(v in transform_ranges.LEVELS for v in values)


def certify_config(seed: int) -> CertifyConfig:
  """The CertifyConfig the flags describe; `seed` is the run's (--seed,
  the train command's flag)."""
  families = (FLAGS.transform,) if FLAGS.transform else None
  return setting_flags.config("cert_", seed, models=FLAGS.cert_models,
                              families=families)
