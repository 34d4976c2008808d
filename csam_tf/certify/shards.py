"""Certification split across workers: each writes the CSV of its share
of the images, and the chief joins them into the one CSV a single process
would have written (rows in image order, the shared settings beside it)."""

import os
from typing import Sequence

from csam_tf.core import atomic_io
from csam_tf.certify import resume as certify_resume
from csam_tf.certify import rows as csv_rows


def shard_csv(out_dir: str, key: str, shard) -> str:
  """The CSV of one worker's share of the images."""
  return os.path.join(out_dir, f"{key}.shard{shard[0]}of{shard[1]}.csv")


def merge_shards(shard_dirs: Sequence[str], out_dir: str, keys) -> None:
  """Joins the workers' shard CSVs (worker k's in shard_dirs[k]) into one
  CSV per key, rows in image order."""
  count = len(shard_dirs)
  for key in keys:
    rows = [row for k, folder in enumerate(shard_dirs)
            for row in csv_rows.read_rows(shard_csv(folder, key, (k, count)))]
    merged = os.path.join(out_dir, f"{key}.csv")
    csv_rows.write_rows(merged, sorted(rows, key=lambda row: row["index"]))
    # the shards share their settings: the merged CSV resumes with them
    settings = atomic_io.read_json(certify_resume.settings_path(
        shard_csv(shard_dirs[0], key, (0, count))))
    if settings is not None:
      atomic_io.write_json(certify_resume.settings_path(merged), settings)
