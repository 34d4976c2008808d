"""The certification settings as flags, defined once for both commands
that take them: `csam_tf.train`'s certify stage spells them --cert_<name>,
`csam_tf.certify` --<name>. Help, bounds and defaults (PROTOCOL.md) are the
same; only the number of images differs (a run's stage certifies 100 by
default, the certify command the protocol's 1,000)."""

from typing import Optional, Sequence

from absl import flags

from csam_tf.certify.config import BOUNDS, CertifyConfig

FLAGS = flags.FLAGS
SPLITS = ("test", "validation")


def define(prefix: str, num_images: int) -> None:
  """Defines --<prefix>families, --<prefix>levels ... --<prefix>restart."""
  p = prefix
  flags.DEFINE_list(f"{p}families", ["composite"], "Transformation families "
                    "to certify, or your own as package.module:factory "
                    "(also --transform).")
  flags.DEFINE_list(f"{p}levels", ["L2"], "Protocol levels to certify "
                    "(L1, L2).")
  flags.DEFINE_integer(f"{p}num_images", num_images, f"Certify the first N "
                       f"images of --{p}split (the protocol's default is "
                       f"1,000).", lower_bound=1)
  flags.DEFINE_enum(f"{p}split", "test", SPLITS, "Test images (final "
                    "tables) or validation images (choosing settings, "
                    "PROTOCOL.md).")
  flags.DEFINE_integer(f"{p}nsamples", 100, "Samples per CC-Cert block.",
                       lower_bound=2)
  flags.DEFINE_integer(f"{p}nbounds", 10, "CC-Cert blocks.", lower_bound=1)
  flags.DEFINE_float(f"{p}delta", 0.9, "CC-Cert delta (confidence of the "
                     "Clopper-Pearson bound).", lower_bound=1e-6,
                     upper_bound=1.0)
  flags.DEFINE_float(f"{p}eps", 1e-3, "Certified when the bound is below "
                     "eps.", lower_bound=0.0, upper_bound=1.0)
  flags.DEFINE_enum(f"{p}bound", "ccert", BOUNDS,
                    f"ccert: the paper's CC-Cert bound on P(Y >= a); "
                    f"binomial: the rigorous Clopper-Pearson bound on "
                    f"P(Y >= a) (needs {p}nsamples * {p}nbounds >= 2,302 to "
                    f"reach 1e-3 at delta 0.9); clopper_pearson: the same on "
                    f"prediction flips.")
  flags.DEFINE_integer(f"{p}batch_size", 1000, "Transformed images per "
                       "forward pass (lower it to fit a small machine).",
                       lower_bound=1)
  flags.DEFINE_boolean(f"{p}full_bounds", False, "Evaluate every CC-Cert "
                       "block of every image; by default an image stops as "
                       "soon as it cannot be certified at any reported eps "
                       "(same PCA, fewer forward passes).")
  flags.DEFINE_boolean(f"{p}restart", False, "Start new certification CSVs "
                       "(an existing one is kept as <name>.csv.old) instead "
                       "of resuming them; needed when the settings or the "
                       "model changed.")


def config(prefix: str, seed: int, models: Sequence[str] = ("dense",
                                                            "pruned"),
           families: Optional[Sequence[str]] = None,
           levels: Optional[Sequence[str]] = None,
           bound: Optional[str] = None,
           nbounds: Optional[int] = None) -> CertifyConfig:
  """The CertifyConfig the --<prefix> flags describe, with the seed (a flag
  of the command that owns it) and what a --certificate overrides."""
  p = prefix
  return CertifyConfig(
      models=tuple(models),
      families=tuple(families if families is not None
                     else FLAGS[f"{p}families"].value),
      levels=tuple(levels if levels is not None
                   else FLAGS[f"{p}levels"].value),
      num_images=FLAGS[f"{p}num_images"].value,
      nsamples=FLAGS[f"{p}nsamples"].value,
      nbounds=nbounds if nbounds is not None else FLAGS[f"{p}nbounds"].value,
      delta=FLAGS[f"{p}delta"].value, eps=FLAGS[f"{p}eps"].value,
      bound=bound or FLAGS[f"{p}bound"].value, seed=seed,
      batch_size=FLAGS[f"{p}batch_size"].value,
      full_bounds=FLAGS[f"{p}full_bounds"].value,
      restart=FLAGS[f"{p}restart"].value, split=FLAGS[f"{p}split"].value)
