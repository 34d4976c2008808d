"""What the command-line programs share: absl parsing that turns every
flag error into one line on stderr and exit code 2, and a quiet start."""

import os
import sys

from absl import app, flags, logging

from csam_tf.core import native_stderr
from csam_tf.core.errors import UsageError

flags.DEFINE_boolean("log_tf", False, "Show TensorFlow's C++ start-up and "
                     "INFO/ERROR log lines (CUDA drivers, cuInit, CPU "
                     "features), hidden by default on this CPU-only stack.")

# TensorFlow's C++ start-up lines on a CPU-only machine (printed before its
# log level is read, so TF_CPP_MIN_LOG_LEVEL alone does not hide them) and
# Keras 3's backend notice on stdout.
_STARTUP_NOISE = ("All log messages before absl::InitializeLog()",
                  "Using TensorFlow backend",
                  "oneDNN custom operations are on",
                  "Could not find cuda drivers",
                  "cpu_feature_guard.cc",
                  "To enable the following instructions",
                  "failed call to cuInit",
                  "Unable to register cu")


def fail(prog: str, error: Exception, exit_code: int = 2) -> None:
  """Prints `<prog>: error: <error>` on one line and exits."""
  message = " ".join(str(error).split("\n"))
  print(f"{prog}: error: {message}", file=sys.stderr)
  sys.exit(exit_code)


def run(main, prog: str, resumes: bool = False) -> None:
  """absl's `app.run(main)` with one-line flag errors (`flags_parser`),
  stdout that outlives its reader, and Ctrl-C as one line and exit code
  130 rather than a KeyboardInterrupt traceback from deep inside
  TensorFlow. `resumes`: the program keeps what it finished and the same
  command goes on from there (training stages' checkpoints, certification's
  rows, a suite's finished runs)."""
  keep_going_without_stdout_reader()
  try:
    app.run(main, flags_parser=flags_parser(prog))
  except KeyboardInterrupt:
    then = ("; what finished is kept, and the same command goes on from "
            "there" if resumes else "")
    print(f"{prog}: interrupted (Ctrl-C){then}", file=sys.stderr)
    sys.exit(130)


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


def checked_start(prog: str, check_inputs, tensorflow: bool = True):
  """Runs `check_inputs()` (fails with one line on UsageError), quiets
  TensorFlow's INFO lines unless --verbosity is given, imports TensorFlow
  quietly unless --log_tf (when the program uses it) and returns what the
  check returned."""
  try:
    checked = check_inputs()
  except UsageError as e:
    fail(prog, e)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  native_stderr.SHOW = flags.FLAGS.log_tf
  if not flags.FLAGS.log_tf:
    # C++ INFO and ERROR lines (cuInit is an ERROR on a CPU-only machine);
    # Python warnings and exceptions still reach the user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if tensorflow:
      import_tensorflow_quietly()
  return checked


def import_tensorflow_quietly() -> None:
  """Imports keras_cv (Keras 3, before tfmot) and TensorFlow with their C++
  start-up noise held back; any other line they print passes through."""
  if "tensorflow" in sys.modules:
    return
  with native_stderr.held_back(
      lambda line: not any(n in line for n in _STARTUP_NOISE), fds=(1, 2)):
    import keras_cv  # noqa: F401  pylint: disable=import-outside-toplevel
    import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel


def keep_going_without_stdout_reader() -> None:
  """When whatever reads stdout goes away (`| head`, a killed `| tee`), the
  program goes on with its output sent to /dev/null (a run's results are
  in its workdir) instead of dying with a BrokenPipeError traceback at its
  next print, hours into a run."""
  if not isinstance(sys.stdout, StdoutOutlivingItsReader):
    sys.stdout = StdoutOutlivingItsReader(sys.stdout)


class StdoutOutlivingItsReader:
  """A text stream that turns a broken pipe into /dev/null: the file
  descriptor itself is pointed there, so the stream's buffered text,
  later writes and native code writing to it all go quietly."""

  def __init__(self, stream):
    self._stream = stream

  def write(self, text):
    try:
      return self._stream.write(text)
    except BrokenPipeError:
      self._to_devnull()
      return len(text)

  def flush(self):
    try:
      self._stream.flush()
    except BrokenPipeError:
      self._to_devnull()

  def _to_devnull(self):
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
      os.dup2(devnull, self._stream.fileno())
    except (AttributeError, OSError, ValueError):  # not backed by a file
      self._stream = open(os.devnull, "w")  # pylint: disable=consider-using-with
    finally:
      os.close(devnull)

  def __getattr__(self, name):
    return getattr(self._stream, name)
