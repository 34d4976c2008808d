"""`<workdir>/report.json`: the run's flags, versions and each stage's
metrics, rewritten atomically after every stage."""

import os
import platform
import time
from importlib import metadata
from typing import Any, Dict

from csam_tf.core import atomic_io, machine
from csam_tf.core import workdir as workdir_lib

_PACKAGES = ("tensorflow", "tf_keras", "tensorflow-model-optimization",
             "keras-cv", "keras", "numpy", "absl-py", "ai-edge-litert",
             "tensorflow-datasets", "csam_tf")


def versions() -> Dict[str, str]:
  """Python and the stack's package versions ("missing" when absent)."""
  found = {"python": platform.python_version()}
  for name in _PACKAGES:
    try:
      found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      found[name] = "missing"
  return found


def update_stage(workdir: str, stage: str, metrics: Dict[str, Any],
                 run_flags: Dict[str, Any]) -> Dict[str, Any]:
  """Records one stage's metrics; keeps the other stages' entries."""
  path = os.path.join(workdir, workdir_lib.REPORT)
  report = atomic_io.read_json(path, default={}) or {}
  report["flags"] = run_flags
  report["versions"] = versions()
  report["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                       "cpu": machine.machine_label()}
  report.setdefault("stages", {})[stage] = metrics
  report["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
  atomic_io.write_json(path, report)
  return report


def stage_metrics(workdir: str, stage: str):
  """A finished stage's metrics, or None."""
  report = atomic_io.read_json(os.path.join(workdir, workdir_lib.REPORT),
                               {}) or {}
  return report.get("stages", {}).get(stage)
