"""The one exception type the CLI turns into a one-line message."""


class UsageError(Exception):
  """Bad input the user can fix: the CLI prints it on one line, exits 2."""


class RunError(Exception):
  """A runtime fault (disk, corrupt file): one line, exit 1."""
