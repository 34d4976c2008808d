"""Atomic writes: a killed run never leaves a half-written file behind."""

import json
import os
import shutil
import tempfile
from typing import Any, Callable


def write_atomically(path: str, write: Callable[[str], Any],
                     suffix: str = "") -> None:
  """Calls `write(tmp_path)`, then renames tmp_path over `path`.

  `suffix` keeps the extension writers look at (".h5", ".keras").
  """
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
  os.close(fd)
  try:
    write(tmp)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_dir_atomically(path: str, write: Callable[[str], Any]) -> None:
  """Calls `write(tmp_dir)`, then moves the finished folder to `path`
  (replacing an older one), so `path` never holds a half-written export."""
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
  try:
    os.rmdir(tmp)  # writers such as tf.saved_model.save create the folder
    write(tmp)
    if os.path.exists(path):
      shutil.rmtree(path)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      shutil.rmtree(tmp)


def write_json(path: str, data: Any) -> None:
  """JSON with sorted keys, written atomically."""

  def write(tmp):
    with open(tmp, "w") as f:
      json.dump(data, f, indent=2, sort_keys=True)
      f.write("\n")
      f.flush()
      os.fsync(f.fileno())

  write_atomically(path, write, suffix=".json")


def read_json(path: str, default: Any = None) -> Any:
  """The JSON at `path`, or `default` when there is none."""
  if not os.path.exists(path):
    return default
  with open(path) as f:
    return json.load(f)
