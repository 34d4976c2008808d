"""Generated sections of a hand-written Markdown file (BENCHMARKS.md):
the text between `<!-- BEGIN marker -->` and `<!-- END marker -->` is
replaced, the rest kept, the file rewritten atomically."""

import os

from csam_tf.core import atomic_io


def update_section(path: str, marker: str, section: str) -> None:
  """Rewrites the `marker` section of the Markdown file at `path`
  (created when missing), atomically."""
  document = ""
  if os.path.exists(path):
    with open(path) as f:
      document = f.read()
  document = replace_section(document, marker, section)
  atomic_io.write_atomically(path, lambda tmp: open(tmp, "w").write(document),
                             suffix=".md")


def replace_section(document: str, marker: str, section: str) -> str:
  """`document` with the text between the marker comments replaced by
  `section` (appended with its markers when absent)."""
  begin, end = f"<!-- BEGIN {marker} -->", f"<!-- END {marker} -->"
  block = f"{begin}\n{section.rstrip()}\n{end}"
  if begin in document and end in document:
    head, rest = document.split(begin, 1)
    return head + block + rest.split(end, 1)[1]
  return document.rstrip() + "\n\n" + block + "\n"
