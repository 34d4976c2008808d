"""Flags of stage 3, fine-tuning under the fixed binary masks."""

from absl import flags

from trainers.finetune_config import FinetuneConfig
from trainers.pretrain_config import OPTIMIZERS

flags.DEFINE_integer("finetune_epochs", 2, "Epochs of fine-tuning.",
                     lower_bound=1)
flags.DEFINE_enum("finetune_optimizer", "sgd", OPTIMIZERS, "Optimizer of "
                  "the fine-tuning (cosine learning rate).")
flags.DEFINE_float("finetune_lr", 0.01, "Peak fine-tuning learning rate.",
                   lower_bound=0.0)
flags.DEFINE_float("finetune_weight_decay", 5e-4, "Decoupled weight decay "
                   "while fine-tuning.", lower_bound=0.0)

FLAGS = flags.FLAGS


def finetune_config() -> FinetuneConfig:
  """The FinetuneConfig the flags describe."""
  return FinetuneConfig(epochs=FLAGS.finetune_epochs,
                        optimizer=FLAGS.finetune_optimizer,
                        learning_rate=FLAGS.finetune_lr,
                        weight_decay=FLAGS.finetune_weight_decay,
                        sparsity=FLAGS.sparsity,
                        granularity=FLAGS.granularity)
