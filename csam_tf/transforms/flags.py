"""--transform: one semantic transformation (a protocol family or a
plug-in, package.module:factory) for augmentation, the mask search and
certification at once; pure Python (flag checks come before TensorFlow)."""

from absl import flags

from csam_tf.transforms import plugin

flags.DEFINE_string("transform", "", "The semantic transformation of every "
                    "stage: a protocol family or your own as "
                    "package.module:factory (README, 'Your own "
                    "transformation'); sets --augment_family, --mask_family "
                    "and --cert_families.")

FLAGS = flags.FLAGS


@flags.validator("transform")
def _spelled_right(value):
  if value:
    try:
      plugin.check_spec(value)
    except plugin.TransformError as e:
      raise flags.ValidationError(str(e)) from None
  return True


def spec_checker(flag: str):
  """A validator: each value is a family name or a module:factory spec."""

  def check(values):
    for value in values if isinstance(values, list) else [values]:
      try:
        plugin.check_spec(value)
      except plugin.TransformError as e:
        raise flags.ValidationError(f"--{flag}: {e}") from None
    return True

  return check


def chosen(own_value):
  """--transform when given, else the stage's own flag's value."""
  return FLAGS.transform or own_value
