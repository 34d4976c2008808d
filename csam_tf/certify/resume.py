"""What a certification CSV was computed with, recorded beside it, so a
resumed run never mixes rows of other settings or of another model.

Pure Python (no TensorFlow): the CLI compares everything but the model's
fingerprint before TensorFlow loads; the fingerprint is compared once the
model is loaded, before any image is certified.
"""

import os
import re
from typing import Any, Dict, Iterable, Mapping, Optional

from csam_tf.core import atomic_io
from csam_tf.core.errors import UsageError

SUFFIX = ".settings.json"
# Bumped when the same settings would draw other transformations: 2 is
# "draw j of image i from (seed, i, j) alone" (PROTOCOL.md step 7).
DRAWS_VERSION = 2
MODEL_KEY = "model_fingerprint"
_SHARD = re.compile(r"\.shard\d+of\d+$")  # sampler.shard_csv's names


def certificate_key(model: str, family: str, level: str,
                    bound: str = "ccert") -> str:
  """The name of a certificate's CSV and report entry:
  <model>_<family>_<level>, and _<bound> for bounds other than CC-Cert (so
  a binomial certificate sits beside the CC-Cert one of the same model)."""
  key = f"{model}_{family}_{level}"
  return key if bound == "ccert" else f"{key}_{bound}"


def certificate_csv(out_dir: str, model: str, family: str, level: str,
                    bound: str = "ccert") -> str:
  """<out_dir>/<certificate_key>.csv: where a certificate's rows go."""
  return os.path.join(out_dir,
                      certificate_key(model, family, level, bound) + ".csv")


def certificate_csvs(out_dir: str) -> Dict[str, str]:
  """Every certificate CSV in `out_dir` (one with its settings recorded
  beside it) by key, e.g. what earlier commands certified there; workers'
  shard CSVs (<key>.shard<k>of<n>.csv) left out."""
  if not os.path.isdir(out_dir):
    return {}
  ending = ".csv" + SUFFIX
  keys = [name[:-len(ending)] for name in sorted(os.listdir(out_dir))
          if name.endswith(ending)]
  return {key: os.path.join(out_dir, key + ".csv") for key in keys
          if not _SHARD.search(key)
          and os.path.exists(os.path.join(out_dir, key + ".csv"))}


def settings_path(csv_path: str) -> str:
  return csv_path + SUFFIX


def csv_settings(cfg, family: str, level: str, ranges: Mapping[str, Any],
                 model_fingerprint: Optional[str]) -> Dict[str, Any]:
  """Everything that decides the rows of one CSV (not how fast they are
  made: batch size, early exit and the number of images are left out)."""
  return {"draws_version": DRAWS_VERSION, "family": family, "level": level,
          "ranges": {name: [float(low), float(high)]
                     for name, (low, high) in sorted(ranges.items())},
          "nsamples": cfg.nsamples, "nbounds": cfg.nbounds,
          "delta": cfg.delta, "bound": cfg.bound, "eps": cfg.eps,
          "seed": cfg.seed, "split": cfg.split, MODEL_KEY: model_fingerprint}


def check_resumable(csv_path: str, settings: Mapping[str, Any],
                    ignore: Iterable[str] = ()) -> None:
  """Raises UsageError when `csv_path` holds rows made with other settings
  (or with none recorded). A missing CSV is always fine."""
  if not os.path.exists(csv_path):
    return
  name = os.path.basename(csv_path)
  recorded = atomic_io.read_json(settings_path(csv_path))
  how = (f"certify with the settings it was made with, or start a new CSV "
         f"with --restart (csam_tf.certify) or --cert_restart (csam_tf.train;"
         f" the old one is kept as {name}.old)")
  if recorded is None:
    raise UsageError(f"{csv_path} has no record of the settings it was "
                     f"certified with (an older csam_tf drew other "
                     f"transformations): {how}")
  skipped = set(ignore)
  for key in sorted(set(recorded) | set(settings)):
    if key in skipped or recorded.get(key) == settings.get(key):
      continue
    if key == MODEL_KEY:
      raise UsageError(f"{csv_path} was certified on another model (its "
                       f"weights changed since): {how}")
    raise UsageError(f"{csv_path} was certified with {key}="
                     f"{recorded.get(key)!r}, not {settings.get(key)!r}: {how}")


def start(csv_path: str, settings: Mapping[str, Any], restart: bool) -> None:
  """Records `settings` beside the CSV; with `restart`, first moves an
  existing CSV aside (to <name>.old), so resuming starts from nothing."""
  if restart and os.path.exists(csv_path):
    os.replace(csv_path, csv_path + ".old")
  atomic_io.write_json(settings_path(csv_path), dict(settings))
