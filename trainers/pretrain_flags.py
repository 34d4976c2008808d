"""Flags of stage 1, cross-entropy pre-training on augmented data."""

from absl import flags

from csam_tf.transforms import flags as transform_flags
from csam_tf.transforms import plugin
from csam_tf.transforms import ranges as transform_ranges
from trainers import robust_flags
from trainers.pretrain_config import OPTIMIZERS, PretrainConfig

flags.DEFINE_integer("pretrain_epochs", 8, "Epochs of pre-training.",
                     lower_bound=1)
flags.DEFINE_enum("pretrain_optimizer", "sgd", OPTIMIZERS,
                  "sgd (Nesterov momentum) or adam; cosine learning rate.")
flags.DEFINE_float("pretrain_lr", 0.1, "Peak learning rate (cosine decay "
                   "to 0).", lower_bound=0.0)
flags.DEFINE_float("pretrain_momentum", 0.9, "SGD momentum.", lower_bound=0.0,
                   upper_bound=1.0)
flags.DEFINE_float("pretrain_weight_decay", 5e-4, "Decoupled weight decay "
                   "(not on BatchNorm or biases).", lower_bound=0.0)
flags.DEFINE_float("pretrain_warmup_epochs", 0.0, "Linear learning-rate "
                   "warm-up before the cosine decay.", lower_bound=0.0)
flags.DEFINE_string("augment_family", "composite", "Semantic "
                    "transformation that augments training batches: "
                    f"{', '.join(transform_ranges.FAMILIES)}, your own as "
                    "package.module:factory, or none.")
flags.DEFINE_enum("augment_level", "L2", transform_ranges.LEVELS,
                  "Protocol level of the augmentation ranges.")
flags.DEFINE_string("augment_ranges", "", "Custom ranges overriding the "
                    "level's, e.g. 'angle=-5:5,brightness=-0.3:0.3'.")
flags.DEFINE_float("augment_prob", 0.5, "Probability that a training image "
                   "is transformed.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("pretrain_sam_rho", 0.0, "Sharpness-aware minimization "
                   "radius of pre-training (tf_keras SharpnessAwareMinimization"
                   "; 0 = plain SGD; the sam_then_prune baseline uses 0.05).",
                   lower_bound=0.0)

FLAGS = flags.FLAGS


@flags.multi_flags_validator(
    ["augment_family", "augment_level", "augment_ranges"],
    message="--augment_ranges does not fit --augment_family")
def _ranges_fit_family(values):
  if values["augment_family"] == "none":
    return True
  transform_flags.spec_checker("augment_family")(values["augment_family"])
  if not values["augment_ranges"]:
    return True
  if plugin.is_plugin(values["augment_family"]):
    raise flags.ValidationError("--augment_ranges overrides a protocol "
                                "family's ranges; a plug-in sets its own")
  try:
    transform_ranges.family_ranges(
        values["augment_family"], values["augment_level"],
        transform_ranges.parse_overrides(values["augment_ranges"]))
  except ValueError as e:
    raise flags.ValidationError(f"--augment_ranges: {e}") from None
  return True


@flags.multi_flags_validator(
    ["pretrain_objective", "pretrain_sam_rho"],
    message="--pretrain_objective=robust and --pretrain_sam_rho are two "
    "pre-training objectives: use one of them")
def _one_pretrain_objective(values):
  return values["pretrain_objective"] == "ce" or not values["pretrain_sam_rho"]


def pretrain_config() -> PretrainConfig:
  """The PretrainConfig the flags describe."""
  return PretrainConfig(
      epochs=FLAGS.pretrain_epochs, optimizer=FLAGS.pretrain_optimizer,
      learning_rate=FLAGS.pretrain_lr, momentum=FLAGS.pretrain_momentum,
      weight_decay=FLAGS.pretrain_weight_decay,
      warmup_epochs=FLAGS.pretrain_warmup_epochs,
      augment_family=transform_flags.chosen(FLAGS.augment_family),
      augment_level=FLAGS.augment_level,
      augment_ranges=transform_ranges.parse_overrides(FLAGS.augment_ranges),
      augment_prob=FLAGS.augment_prob, sam_rho=FLAGS.pretrain_sam_rho,
      objective=FLAGS.pretrain_objective,
      robust=robust_flags.robust_config())
