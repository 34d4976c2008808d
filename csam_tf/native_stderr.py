"""Holds back what TensorFlow's and the TFLite converter's C++ code write
to the process's stderr (file descriptor 2, below Python's sys.stderr):
start-up lines about CUDA and CPU features, converter chatter. Lines a
`keep` filter accepts are passed on afterwards; `--log_tf` (cli) shows
everything as it comes."""

import contextlib
import os
import sys
import tempfile
from typing import Callable, Iterator

SHOW = False  # set by cli.checked_start from --log_tf


@contextlib.contextmanager
def held_back(keep: Callable[[str], bool] = lambda line: False
              ) -> Iterator[None]:
  """Within the block, fd 2 goes to a temporary file; afterwards the lines
  `keep` accepts are written to stderr. A no-op when SHOW is set."""
  if SHOW:
    yield
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      for line in captured.read().decode(errors="replace").splitlines():
        if line.strip() and keep(line):
          print(line, file=sys.stderr)
