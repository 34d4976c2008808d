"""Flags of the certification stage (defaults: PROTOCOL.md)."""

from absl import flags

from csam_tf.transforms import flags as transform_flags
from csam_tf.transforms import ranges as transform_ranges
from csam_tf.certify.config import BOUNDS, CertifyConfig

CERTIFIED_MODELS = ("dense", "pruned")

flags.DEFINE_list("cert_models", list(CERTIFIED_MODELS), "Models the "
                  "certify stage certifies: dense (stage 1) and/or pruned "
                  "(stage 3, when it has run).")
flags.DEFINE_list("cert_families", ["composite"], "Transformations to "
                  f"certify, from {', '.join(transform_ranges.FAMILIES)} or "
                  "your own as package.module:factory.")
flags.DEFINE_list("cert_levels", ["L2"], "Protocol levels to certify "
                  "(L1, L2).")
flags.DEFINE_integer("cert_num_images", 100, "Certify the first N test "
                     "images (the protocol's default is 1,000).",
                     lower_bound=1)
flags.DEFINE_integer("cert_nsamples", 100, "Samples per CC-Cert block.",
                     lower_bound=2)
flags.DEFINE_integer("cert_nbounds", 10, "CC-Cert blocks.", lower_bound=1)
flags.DEFINE_float("cert_delta", 0.9, "CC-Cert delta (confidence of the "
                   "Clopper-Pearson bound).", lower_bound=1e-6,
                   upper_bound=1.0)
flags.DEFINE_float("cert_eps", 1e-3, "Certified when the bound is below "
                   "eps.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("cert_batch_size", 1000, "Transformed images per "
                     "forward pass.", lower_bound=1)
flags.DEFINE_enum("cert_bound", "ccert", BOUNDS,
                  "ccert: the paper's CC-Cert bound on P(Y >= a); binomial: "
                  "the rigorous Clopper-Pearson bound on P(Y >= a) (needs "
                  "cert_nsamples * cert_nbounds >= 2,302 to reach 1e-3 at "
                  "delta 0.9); clopper_pearson: the same on prediction "
                  "flips.")
flags.DEFINE_boolean("cert_full_bounds", False, "Evaluate every CC-Cert "
                     "block of every image; by default an image stops as soon "
                     "as it cannot be certified at any reported eps (same "
                     "PCA, fewer forward passes).")
flags.DEFINE_enum("cert_split", "test", ("test", "validation"), "Which "
                  "images the certify stage certifies: the first N test "
                  "images (final tables) or validation images (choosing "
                  "settings, PROTOCOL.md).")
flags.DEFINE_boolean("cert_restart", False, "Start new certification CSVs "
                     "(an existing one is kept as <name>.csv.old) instead of "
                     "resuming them; needed when the model changed.")

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


def certify_config() -> CertifyConfig:
  """The CertifyConfig the flags describe."""
  return CertifyConfig(
      models=tuple(FLAGS.cert_models),
      families=((FLAGS.transform,) if FLAGS.transform
                else tuple(FLAGS.cert_families)),
      levels=tuple(FLAGS.cert_levels),
      num_images=FLAGS.cert_num_images, nsamples=FLAGS.cert_nsamples,
      nbounds=FLAGS.cert_nbounds, delta=FLAGS.cert_delta, eps=FLAGS.cert_eps,
      bound=FLAGS.cert_bound, seed=FLAGS.seed,
      batch_size=FLAGS.cert_batch_size, full_bounds=FLAGS.cert_full_bounds,
      restart=FLAGS.cert_restart, split=FLAGS.cert_split)
