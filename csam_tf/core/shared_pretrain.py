"""One dense model for several runs: a finished run's stage-1 output copied
into another workdir, with its stage-1 record, so that the other run's
later stages start from it instead of training their own (the benchmark
suites' pruning runs, the tfmot baseline beside a run)."""

import os
import shutil
from typing import Sequence

from csam_tf.core import atomic_io, run_report
from csam_tf.core import workdir as workdir_lib


def share(source: str, target: str, files: Sequence[str],
          shared_from: str) -> None:
  """Copies `files` (relative paths) of workdir `source` into `target`
  where they are missing, and records `source`'s stage 1 in `target`'s
  report.json, marked as `shared_from` (once: a resumed run keeps it)."""
  for relative in files:
    # (a dense run restored from its record has the weights file only)
    if (os.path.exists(os.path.join(source, relative)) and
        not os.path.exists(os.path.join(target, relative))):
      os.makedirs(os.path.dirname(os.path.join(target, relative)),
                  exist_ok=True)
      atomic_io.write_atomically(
          os.path.join(target, relative),
          lambda tmp, r=relative: shutil.copyfile(os.path.join(source, r),
                                                  tmp),
          suffix=os.path.splitext(relative)[1])
  if run_report.stage_metrics(target, "pretrain") is None:
    source_report = atomic_io.read_json(os.path.join(source,
                                                     workdir_lib.REPORT))
    run_report.update_stage(target, "pretrain", {
        **source_report["stages"]["pretrain"],
        "shared_from": shared_from}, source_report["flags"])
