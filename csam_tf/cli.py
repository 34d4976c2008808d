"""What both command-line programs share: absl parsing that turns every
flag error into one line on stderr and exit code 2."""

import sys

from absl import flags, logging

from csam_tf.errors import UsageError


def fail(prog: str, error: Exception, exit_code: int = 2) -> None:
  """Prints `<prog>: error: <error>` on one line and exits."""
  message = " ".join(str(error).split("\n"))
  print(f"{prog}: error: {message}", file=sys.stderr)
  sys.exit(exit_code)


def flags_parser(prog: str):
  """An `app.run(flags_parser=...)` with one-line errors and exit code 2."""

  def parse(argv):
    try:
      remaining = flags.FLAGS(argv)
    except flags.Error as e:
      fail(prog, UsageError(str(e)))
    if len(remaining) > 1:
      fail(prog, UsageError(f"unexpected argument {remaining[1]!r}: flags "
                            f"take the form --name=value"))
    return remaining

  return parse


def checked_start(prog: str, check_inputs):
  """Runs `check_inputs()` (fails with one line on UsageError), quiets
  TensorFlow's INFO lines unless --verbosity is given, and returns what the
  check returned."""
  try:
    checked = check_inputs()
  except UsageError as e:
    fail(prog, e)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  return checked
