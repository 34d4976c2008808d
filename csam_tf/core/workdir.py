"""A run's workdir: its layout (every file one stage leaves for another,
for the certifier, the suites or the user, named here and nowhere else),
and its ownership: the flags that shape its results are recorded on first
use, and a later command with other values is refused before it can
overwrite anything."""

import os
import tempfile
from typing import Any, Dict, Iterable

from csam_tf.core import atomic_io
from csam_tf.core.errors import UsageError

# The layout, relative to the workdir: a folder per stage, in pipeline
# order, and the files one stage leaves for another.
STAGES = ("pretrain", "mask", "finetune", "export", "certify")
FLAGS_FILE = "flags.json"
REPORT = "report.json"
TENSORBOARD = "tb"
PRETRAIN_WEIGHTS = "pretrain/best.weights.h5"
PRETRAIN_MODEL = "pretrain/model.keras"
BINARY_MASKS = "mask/binary_masks.npz"
FINETUNE_WEIGHTS = "finetune/best.weights.h5"
FINETUNE_MODEL = "finetune/model.keras"
FINETUNE_GATED_MODEL = "finetune/gated_model.keras"  # channel gates kept
EXPORT_DIR = "export"
SAVED_MODEL = "export/saved_model"
TFLITE = {"float32": "export/model.tflite",
          "int8": "export/model_int8.tflite",
          "sparse": "export/model_sparse.tflite"}
CERTIFY_DIR = "certify"
# tfmot as users run it beside the run (--tfmot_baseline): a workdir of
# its own inside the run's.
TFMOT_BASELINE_DIR = "tfmot_baseline"
# The model each certification target reads.
MODEL_FILES = {"dense": PRETRAIN_MODEL, "pruned": FINETUNE_MODEL,
               "tflite": TFLITE["float32"]}


def check_writable(workdir: str, flag: str = "workdir") -> None:
  """Raises UsageError unless files can be created in `workdir` (or, when
  it does not exist yet, in the folder it would be made in), naming the
  --`flag` that gave it. Probes with a real file: permission bits say
  nothing to root or on read-only mounts."""
  folder = os.path.abspath(workdir)
  while not os.path.exists(folder):
    folder = os.path.dirname(folder)
  if not os.path.isdir(folder):
    raise UsageError(f"--{flag}={workdir}: {folder} is a file, not a folder")
  try:
    handle, probe = tempfile.mkstemp(prefix=".csam_tf_probe", dir=folder)
    os.close(handle)
    os.remove(probe)
  except OSError as e:
    raise UsageError(f"--{flag}={workdir} is not writable ({folder}: "
                     f"{e.strerror}); choose a folder you can write to"
                     ) from None


def check_compatible(workdir: str, run_flags: Dict[str, Any],
                     free_flags: Iterable[str]) -> None:
  """Raises UsageError when `workdir` holds a run with other flag values.

  `free_flags` may differ between invocations (which stages to run, where
  the data lives): they do not change what a finished stage computed.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UsageError(f"--workdir={workdir} is a file, not a folder")
  recorded = atomic_io.read_json(os.path.join(workdir, FLAGS_FILE))
  if recorded is None:
    return
  free = set(free_flags)
  changed = [name for name in sorted(set(recorded) & set(run_flags))
             if name not in free and recorded[name] != run_flags[name]]
  if changed:
    name = changed[0]
    more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
    raise UsageError(
        f"--workdir={workdir} holds a run with --{name}={recorded[name]!r}, "
        f"not {run_flags[name]!r}{more}; use another --workdir or the same "
        f"flags")


def record(workdir: str, run_flags: Dict[str, Any]) -> None:
  """Writes the run's flags into a fresh workdir (never over another's)."""
  path = os.path.join(workdir, FLAGS_FILE)
  if not os.path.exists(path):
    atomic_io.write_json(path, run_flags)
