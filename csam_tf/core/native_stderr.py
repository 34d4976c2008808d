"""Holds back what TensorFlow's and the TFLite converter's C++ code write
to the process's stderr (file descriptor 2, below Python's sys.stderr):
start-up lines about CUDA and CPU features, converter chatter; and, around
the TensorFlow import, Keras's "Using TensorFlow backend" on stdout. Lines
a `keep` filter accepts are passed on afterwards; `--log_tf` (cli) shows
everything as it comes."""

import contextlib
import os
import sys
import tempfile
from typing import Callable, Iterator, Sequence

SHOW = False  # set by cli.checked_start from --log_tf


@contextlib.contextmanager
def held_back(keep: Callable[[str], bool] = lambda line: False,
              fds: Sequence[int] = (2,)) -> Iterator[None]:
  """Within the block, the file descriptors `fds` (2: stderr, 1: stdout)
  go to temporary files; afterwards the lines `keep` accepts are written
  to where they were going. A no-op when SHOW is set."""
  if SHOW:
    yield
    return
  streams = {1: sys.stdout, 2: sys.stderr}
  with contextlib.ExitStack() as stack:
    held = []
    for fd in fds:
      streams[fd].flush()
      captured = stack.enter_context(tempfile.TemporaryFile())
      held.append((fd, os.dup(fd), captured))
      os.dup2(captured.fileno(), fd)
    try:
      yield
    finally:
      for fd, saved, captured in held:
        streams[fd].flush()
        os.dup2(saved, fd)
        os.close(saved)
      for fd, _, captured in held:
        captured.seek(0)
        for line in captured.read().decode(errors="replace").splitlines():
          if line.strip() and keep(line):
            print(line, file=streams[fd])
