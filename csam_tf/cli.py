"""What both command-line programs share: absl parsing that turns every
flag error into one line on stderr and exit code 2."""

import sys

from absl import flags

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
