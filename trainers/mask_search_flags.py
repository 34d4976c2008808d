"""Flags of stage 2, the C-SAM mask search (defaults: DEVELOPERS.md)."""

from absl import flags

from csam_tf.transforms import flags as transform_flags
from csam_tf.transforms import ranges as transform_ranges
from trainers.mask_search_config import ALLOCATIONS, MaskSearchConfig

# The API's defaults are the command's (the shipped search); binarize's
# "auto" is the field's own default (an instance holds it resolved).
_DEFAULT = MaskSearchConfig()
_GRANULARITIES = ("unstructured", "channel")
_INITS = ("percentile", "scaled_magnitude", "random", "ones")

flags.DEFINE_enum("mask_method", "csam",
                  ("csam", "score_ce", "random", "magnitude", "l1_filter",
                   "group_norm", "taylor"),
                  "How stage 2 makes the binary masks: csam (this project), "
                  "score_ce (HYDRA-style scores, cross-entropy only), random, "
                  "magnitude (one-shot top-k |w|), or in channel mode "
                  "l1_filter (filter L1 norm) / group_norm (DepGraph group "
                  "norm) / taylor (first-order Taylor score of each gate, "
                  "Molchanov et al. 2019; a ViT's heads and MLP channels "
                  "too).")
flags.DEFINE_integer("importance_batches", 32, "--mask_method=taylor: "
                     "training batches its squared gate gradients average "
                     "over.", lower_bound=1)
flags.DEFINE_float("sparsity", 0.5, "Target sparsity of the binarised "
                   "masks (fraction of prunable weights or channels "
                   "removed).", lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_enum("granularity", "unstructured", _GRANULARITIES,
                  "unstructured: one mask per weight; channel: one gate per "
                  "output channel, after BatchNorm.")
flags.DEFINE_enum("binarize", "auto", ALLOCATIONS, "Top-k per layer "
                  "(layerwise), or over all masked layers together (global); "
                  "auto: global for single weights, layerwise for channels "
                  "(a global top-k over channels can empty a layer).")
flags.DEFINE_integer("mask_epochs", 1, "Epochs of mask search.",
                     lower_bound=1)
flags.DEFINE_integer("mask_steps_per_epoch", 0, "Cut each mask-search epoch "
                     "to this many batches (0 = full epochs).", lower_bound=0)
flags.DEFINE_float("mask_lr", _DEFAULT.learning_rate, "Adam learning rate "
                   "on the soft masks.", lower_bound=0.0)
flags.DEFINE_enum("binarize_score", "mask_x_magnitude",
                  ("mask_x_magnitude", "mask"),
                  "Top-k key: C times the normalised |w| (the effective "
                  "weight's magnitude), or C alone (ties broken by |w|).")
flags.DEFINE_enum("mask_init", "percentile", _INITS, "Initial soft masks: "
                  "clip(|w| / percentile(|w|, tau), 0, 1), |w| / max |w| per "
                  "layer (HYDRA's scaled magnitude: no mask starts pinned "
                  "at 1 but the largest), uniform random, or all ones.")
flags.DEFINE_float("tau", 30.0, "Percentile of the mask initialisation.",
                   lower_bound=0.0, upper_bound=100.0)
flags.DEFINE_float("mu", 0.5, "Mask noise: xi ~ U(-mu, mu).", lower_bound=0.0,
                   upper_bound=1.0)
flags.DEFINE_float("eta", 1.0, "Threshold of the ratio term softplus(r - "
                   "eta).", lower_bound=0.0)
flags.DEFINE_float("lambda_stab", 5.0, "Weight of L_stab.", lower_bound=0.0)
flags.DEFINE_float("lambda_ratio", 1.0, "Weight of L_ratio.", lower_bound=0.0)
flags.DEFINE_float("lambda_consist", 1.0, "Weight of L_consist.",
                   lower_bound=0.0)
flags.DEFINE_float("lambda_l1", 0.1, "Weight of L_1 (mean mask value).",
                   lower_bound=0.0)
flags.DEFINE_float("lambda_ce", 1.0, "Weight of the optional cross-entropy "
                   "term (0 = the paper's composite).", lower_bound=0.0)
flags.DEFINE_enum("ratio_masks", "pair", ("pair", "same"), "L_ratio compares "
                  "p_1(x) with p_2(T(x)) (pair) or with p_1(T(x)) (same).")
flags.DEFINE_enum("consist", "kl", ("kl", "mse"), "L_consist: KL or mean "
                  "squared distance of the probabilities.")
flags.DEFINE_boolean("mask_xla", False, "Compile the mask-search step's "
                     "forward and backward passes with XLA (the "
                     "transformation stays outside: no XLA kernel on CPU).")
flags.DEFINE_string("mask_family", "composite", "Transformation T of the "
                    "mask search: a protocol family or your own as "
                    "package.module:factory.")
flags.register_validator("mask_family",
                         transform_flags.spec_checker("mask_family"))
flags.DEFINE_enum("mask_level", "L2", transform_ranges.LEVELS,
                  "Protocol level of T's ranges.")
flags.DEFINE_enum("search_bn", "batch", ("batch", "frozen", "batch_affine"),
                  "BatchNorm in the mask search's forward passes: batch "
                  "statistics of the batch each pass processes (so "
                  "normalisation follows the mask; gamma, beta frozen), "
                  "the dense network's frozen moving statistics (v1), or "
                  "batch statistics with gamma and beta learned with the "
                  "masks and kept for fine-tuning (an ablation; "
                  "unstructured masks only).")
flags.DEFINE_integer("recalibration_batches", 50, "Training batches whose "
                     "BatchNorm statistics are averaged under a mask before "
                     "it is judged (validation in the search, the final "
                     "masks, the start of fine-tuning).", lower_bound=1)
flags.DEFINE_enum("search_sparsity_schedule", "constant",
                  ("constant", "cubic"), "Target of the search's binary "
                  "branch: the final sparsity throughout, or rising from 0 "
                  "along Zhu and Gupta's cubic schedule (tfmot's "
                  "PolynomialDecay, power 3) between --schedule_begin and "
                  "--schedule_end (fractions of the search), then held.")
flags.DEFINE_float("schedule_begin", 0.0, "Fraction of the search where the "
                   "cubic schedule starts.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("schedule_end", 0.5, "Fraction of the search where the "
                   "cubic schedule reaches --sparsity.", lower_bound=0.0,
                   upper_bound=1.0)
flags.DEFINE_float("ratio_margin_floor", 0.0, "L_ratio variant: r = shift / "
                   "max(d, floor), so images with a near-zero top-2 margin "
                   "cannot own the gradient (0 = the paper's form).",
                   lower_bound=0.0)
flags.DEFINE_float("ratio_clip", _DEFAULT.ratio_clip, "L_ratio variant: r "
                   "clipped at this value (0 = off, the paper's form; 10 "
                   "validated with the global allocation).", lower_bound=0.0)
flags.DEFINE_integer("mask_log_every", 1, "TensorBoard: the search's loss "
                     "terms, binary accuracy, flip fraction and sparsity "
                     "target every N steps (tb/mask/steps; the demo's 20 "
                     "steps give 20 points).", lower_bound=1)

FLAGS = flags.FLAGS


@flags.multi_flags_validator(
    ["schedule_begin", "schedule_end"],
    message="--schedule_begin must be below --schedule_end")
def _schedule_order(values):
  return values["schedule_begin"] < values["schedule_end"]


@flags.multi_flags_validator(
    ["search_bn", "granularity"],
    message="--search_bn=batch_affine learns BatchNorm's gamma and beta, "
    "which channel mode's gates fold into: use it with "
    "--granularity=unstructured")
def _learned_affine_needs_unstructured(values):
  return (values["search_bn"] != "batch_affine" or
          values["granularity"] == "unstructured")


@flags.multi_flags_validator(
    ["mask_method", "granularity"],
    message="--mask_method=l1_filter, group_norm and taylor rank channel "
    "groups: use them with --granularity=channel")
def _channel_methods_need_channels(values):
  return (values["mask_method"] not in ("l1_filter", "group_norm",
                                        "taylor") or
          values["granularity"] == "channel")


def mask_search_config() -> MaskSearchConfig:
  """The MaskSearchConfig the flags describe."""
  return MaskSearchConfig(
      method=FLAGS.mask_method, epochs=FLAGS.mask_epochs,
      steps_per_epoch=FLAGS.mask_steps_per_epoch,
      learning_rate=FLAGS.mask_lr, granularity=FLAGS.granularity,
      mask_init=FLAGS.mask_init, tau=FLAGS.tau, mu=FLAGS.mu, eta=FLAGS.eta,
      lambda_stab=FLAGS.lambda_stab, lambda_ratio=FLAGS.lambda_ratio,
      lambda_consist=FLAGS.lambda_consist, lambda_l1=FLAGS.lambda_l1,
      lambda_ce=FLAGS.lambda_ce, sparsity=FLAGS.sparsity,
      binarize=FLAGS.binarize, binarize_score=FLAGS.binarize_score,
      ratio_masks=FLAGS.ratio_masks,
      consist=FLAGS.consist,
      family=transform_flags.chosen(FLAGS.mask_family),
      level=FLAGS.mask_level, xla=FLAGS.mask_xla, search_bn=FLAGS.search_bn,
      recalibration_batches=FLAGS.recalibration_batches,
      importance_batches=FLAGS.importance_batches,
      sparsity_schedule=FLAGS.search_sparsity_schedule,
      schedule_begin=FLAGS.schedule_begin, schedule_end=FLAGS.schedule_end,
      ratio_margin_floor=FLAGS.ratio_margin_floor,
      ratio_clip=FLAGS.ratio_clip, log_every=FLAGS.mask_log_every)
