"""Flags of stage 3, fine-tuning under the fixed binary masks."""

from absl import flags

from trainers import robust_flags
from trainers.finetune_config import FinetuneConfig
from trainers.mask_search_config import MaskSearchConfig
from trainers.pretrain_config import OPTIMIZERS

flags.DEFINE_integer("finetune_epochs", FinetuneConfig.epochs, "Epochs of "
                     "fine-tuning (4: the robust objective's validated "
                     "length).", lower_bound=1)
flags.DEFINE_integer("finetune_steps_per_epoch", 0, "Cut each fine-tuning "
                     "epoch after this many steps (0 = the whole training "
                     "split): small demos.", lower_bound=0)
flags.DEFINE_enum("finetune_optimizer", "sgd", OPTIMIZERS, "Optimizer of "
                  "the fine-tuning (cosine learning rate).")
flags.DEFINE_float("finetune_lr", 0.01, "Peak fine-tuning learning rate.",
                   lower_bound=0.0)
flags.DEFINE_float("finetune_weight_decay", 5e-4, "Decoupled weight decay "
                   "while fine-tuning.", lower_bound=0.0)
flags.DEFINE_enum("finetune_pruning", "fixed_masks",
                  ("fixed_masks", "polynomial_decay"),
                  "fixed_masks: stage 2's binary masks, never recomputed; "
                  "polynomial_decay: tfmot's gradual magnitude pruning from "
                  "the dense model (the magnitude baselines; no stage 2).")
flags.DEFINE_float("polynomial_decay_end", 0.5, "polynomial_decay reaches "
                   "--sparsity after this fraction of the fine-tuning steps.",
                   lower_bound=0.01, upper_bound=1.0)
flags.DEFINE_integer("polynomial_decay_frequency", 50, "polynomial_decay "
                     "recomputes the masks every this many steps.",
                     lower_bound=1)
flags.DEFINE_float("finetune_sam_rho", 0.0, "Sharpness-aware minimization "
                   "radius while fine-tuning (0 = plain SGD; the "
                   "prune_then_sam baseline uses 0.05).", lower_bound=0.0)

flags.DEFINE_float("finetune_ratio_weight", 0.0, "Add this times the "
                   "mask search's ratio term (softplus(r - eta), T from "
                   "--mask_family/--mask_level) to the fine-tuning "
                   "cross-entropy, on the weights (0 = plain cross-entropy, "
                   "the method's stage 3). Works for every method's masks, "
                   "magnitude pruning's too.", lower_bound=0.0)
flags.DEFINE_float("finetune_ratio_clip", 10.0, "r clipped at this value in "
                   "the fine-tuning ratio term (0 = no clip): ambiguous "
                   "images cannot own the gradient.", lower_bound=0.0)

FLAGS = flags.FLAGS


@flags.multi_flags_validator(
    ["finetune_ratio_weight", "finetune_sam_rho", "finetune_objective"],
    message="--finetune_objective=robust, --finetune_ratio_weight and "
    "--finetune_sam_rho are three fine-tuning objectives: use one of them")
def _one_finetune_objective(values):
  return sum((values["finetune_ratio_weight"] > 0,
              values["finetune_sam_rho"] > 0,
              values["finetune_objective"] == "robust")) <= 1


def finetune_config(search: MaskSearchConfig) -> FinetuneConfig:
  """The FinetuneConfig the flags describe. What fine-tuning shares with
  the mask search (the target sparsity, granularity and allocation, and
  the ratio term's eta and transformation) comes from the search's config,
  whose flags own them."""
  return FinetuneConfig(epochs=FLAGS.finetune_epochs,
                        steps_per_epoch=FLAGS.finetune_steps_per_epoch,
                        optimizer=FLAGS.finetune_optimizer,
                        learning_rate=FLAGS.finetune_lr,
                        weight_decay=FLAGS.finetune_weight_decay,
                        sparsity=search.sparsity,
                        granularity=search.granularity,
                        pruning=FLAGS.finetune_pruning,
                        polynomial_decay_end=FLAGS.polynomial_decay_end,
                        polynomial_decay_frequency=(
                            FLAGS.polynomial_decay_frequency),
                        sam_rho=FLAGS.finetune_sam_rho,
                        recalibration_batches=search.recalibration_batches,
                        binarize=search.binarize,
                        ratio_weight=FLAGS.finetune_ratio_weight,
                        eta=search.eta,
                        ratio_clip=FLAGS.finetune_ratio_clip,
                        family=search.family, level=search.level,
                        objective=FLAGS.finetune_objective,
                        robust=robust_flags.robust_config())
