"""Flags of the robust objective on the weights (trainers/robust.py),
shared by stage 1 (`--pretrain_objective=robust`) and stage 3
(`--finetune_objective=robust`); pure Python."""

from absl import flags

from csam_tf.transforms import flags as transform_flags
from csam_tf.transforms import ranges as transform_ranges
from trainers.finetune_config import FinetuneConfig
from trainers.pretrain_config import PretrainConfig
from trainers.robust_config import OBJECTIVES, RobustConfig

_DEFAULT = RobustConfig()

# The shipped pipeline trains the weights for the certificate in both
# stages (BENCHMARKS.md, the objective sweep: at lambda 5 robust
# pre-training added 4.5 points of validation PCA to robust fine-tuning
# at 70%, at the same accuracy).
flags.DEFINE_enum("pretrain_objective", PretrainConfig.objective, OBJECTIVES,
                  "Stage 1's objective: ce (cross-entropy on batches "
                  "augmented with probability --augment_prob) or robust "
                  "(cross-entropy over the clean image and --robust_views "
                  "transformed views + --robust_lambda KL to their mean + "
                  "--robust_entropy entropy of the mean).")
flags.DEFINE_enum("finetune_objective", FinetuneConfig.objective, OBJECTIVES,
                  "Stage 3's objective under the masks, for every method's "
                  "masks (tfmot's gradual magnitude pruning too): ce or "
                  "robust, as --pretrain_objective.")
flags.DEFINE_float("robust_lambda", _DEFAULT.weight, "Weight of the views' "
                   "mean KL(pbar || p_i) to their mean prediction pbar.",
                   lower_bound=0.0)
flags.DEFINE_float("robust_entropy", _DEFAULT.entropy, "Weight of the "
                   "entropy of pbar (widens the top-2 margin).",
                   lower_bound=0.0)
flags.DEFINE_integer("robust_views", _DEFAULT.views, "Transformed views of "
                     "every image per step (each costs a forward and a "
                     "backward pass).", lower_bound=1)
flags.DEFINE_boolean("robust_clean_view", _DEFAULT.clean_view, "The clean "
                     "image is one view more (the certificate compares "
                     "p(x) with p(T(x))).")
flags.DEFINE_integer("robust_worst_of", _DEFAULT.worst_of, "Each view is "
                     "the worst (highest cross-entropy) of this many draws "
                     "(1 = a random draw; k costs k - 1 more forward "
                     "passes a view).", lower_bound=1)
flags.DEFINE_float("robust_ramp", _DEFAULT.ramp, "--robust_lambda rises "
                   "linearly from 0 over this fraction of the stage's steps.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("robust_ratio_weight", _DEFAULT.ratio_weight, "Add the "
                   "mask search's ratio term, bounded: r capped at "
                   "--robust_ratio_clip, on correctly classified images "
                   "only, from --robust_ratio_start of the steps on (0 = "
                   "off).", lower_bound=0.0)
flags.DEFINE_float("robust_ratio_clip", _DEFAULT.ratio_clip, "Cap of r in "
                   "the bounded ratio term.", lower_bound=0.0)
flags.DEFINE_float("robust_ratio_start", _DEFAULT.ratio_start, "Fraction of "
                   "the stage's steps before the bounded ratio term is on.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_string("robust_family", _DEFAULT.family, "The transformation "
                    "the views are drawn from: the certificate's (a "
                    "protocol family or package.module:factory; "
                    "--transform sets it).")
flags.register_validator("robust_family",
                         transform_flags.spec_checker("robust_family"))
flags.DEFINE_enum("robust_level", _DEFAULT.level, transform_ranges.LEVELS,
                  "Protocol level of the views' ranges (the certificate's).")

FLAGS = flags.FLAGS


@flags.multi_flags_validator(
    ["robust_views", "robust_clean_view", "robust_lambda"],
    message="the KL term needs two views at least: --robust_views=2 or "
    "--robust_clean_view")
def _two_views(values):
  return (values["robust_views"] + int(values["robust_clean_view"]) >= 2 or
          values["robust_lambda"] == 0)


@flags.multi_flags_validator(
    ["robust_ratio_weight", "robust_clean_view"],
    message="--robust_ratio_weight compares p(x) with p(T(x)): keep "
    "--robust_clean_view")
def _ratio_needs_clean(values):
  return values["robust_ratio_weight"] == 0 or values["robust_clean_view"]


def robust_config() -> RobustConfig:
  """The RobustConfig the flags describe."""
  return RobustConfig(
      weight=FLAGS.robust_lambda, entropy=FLAGS.robust_entropy,
      views=FLAGS.robust_views, clean_view=FLAGS.robust_clean_view,
      worst_of=FLAGS.robust_worst_of, ramp=FLAGS.robust_ramp,
      ratio_weight=FLAGS.robust_ratio_weight,
      ratio_clip=FLAGS.robust_ratio_clip,
      ratio_start=FLAGS.robust_ratio_start,
      family=transform_flags.chosen(FLAGS.robust_family),
      level=FLAGS.robust_level)
