"""A finished run's record: the small files its rows of results.csv and the
tables are made from (experiment.json, report.json, run.cfg, the
certificates' CSVs with their settings) and, for a dense run, the dense
model the suite's other runs start from.

Records are meant to be committed (`--records_dir`): a suite's workdir lives
on one machine, and a suite that takes longer than a machine lives would
otherwise start again from nothing. The runner saves a run's record when the
run finishes and, on a machine whose workdir lacks the run, restores it
instead of running it again. Pure Python (no TensorFlow).
"""

import os
import shutil
from typing import List

from csam_tf.core import atomic_io
from csam_tf.core import workdir as workdir_lib
from csam_tf.certify import resume as certify_resume
from csam_tf.experiments import suites as experiment_suites
from csam_tf.experiments.rows import EXPERIMENT_FILE

RECORD_FILES = (EXPERIMENT_FILE, workdir_lib.REPORT, "run.cfg")
CERTIFY_DIR = "certify"


def record_files(run_dir: str, method: str) -> List[str]:
  """The record's files, relative to the run's workdir: what the tables
  read, and the dense model when other runs start from it."""
  files = [f for f in RECORD_FILES
           if os.path.exists(os.path.join(run_dir, f))]
  for csv_path in certify_resume.certificate_csvs(
      os.path.join(run_dir, CERTIFY_DIR)).values():
    name = os.path.basename(csv_path)
    files += [os.path.join(CERTIFY_DIR, name),
              os.path.join(CERTIFY_DIR, certify_resume.settings_path(name))]
  if method in experiment_suites.DENSE_METHODS:
    files += [f for f in experiment_suites.PRETRAIN_RECORD_FILES
              if os.path.exists(os.path.join(run_dir, f))]
  return files


def seen_through(folder: str) -> bool:
  """The runner saw the run in `folder` (a workdir or a record) through:
  its experiment.json says complete."""
  spec = atomic_io.read_json(os.path.join(folder, EXPERIMENT_FILE))
  return bool(spec and spec.get("complete"))


def save(run_dir: str, record_dir: str, method: str) -> List[str]:
  """Replaces `record_dir` with the finished run's record (all at once: a
  killed save leaves the older record or none, never half of one)."""

  def copy(tmp):
    for relative in files:
      os.makedirs(os.path.dirname(os.path.join(tmp, relative)),
                  exist_ok=True)
      shutil.copyfile(os.path.join(run_dir, relative),
                      os.path.join(tmp, relative))

  files = record_files(run_dir, method)
  atomic_io.write_dir_atomically(record_dir, copy)
  return files


def restore(record_dir: str, run_dir: str) -> List[str]:
  """Copies a finished run's record into its workdir (each file atomically,
  experiment.json last, so an interrupted restore is not taken for a
  finished run)."""
  files = sorted((os.path.relpath(os.path.join(d, name), record_dir)
                  for d, _, names in os.walk(record_dir) for name in names),
                 key=lambda f: f == EXPERIMENT_FILE)
  for relative in files:
    target = os.path.join(run_dir, relative)
    atomic_io.write_atomically(
        target, lambda tmp, r=relative: shutil.copyfile(
            os.path.join(record_dir, r), tmp),
        suffix=os.path.splitext(relative)[1])
  return files
