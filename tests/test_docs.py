"""Documentation that cannot rot: the docs site builds with --strict
(a broken link or an API object that is gone fails it), and every Python
block of README.md and docs/ runs as it stands (a block preceded by the
line `<!-- not run: REASON -->` is skipped, with its reason)."""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = [pytest.mark.xdist_group("docs"),
              pytest.mark.heavy(30)]
_BLOCK = re.compile(r"(<!-- not run: [^>]*-->\n)?```python\n(.*?)```",
                    re.S)


def _documents():
  yield "README.md"
  for folder, _, files in os.walk(os.path.join(REPO, "docs")):
    if "bench_records" in folder:
      continue
    for name in sorted(files):
      if name.endswith(".md"):
        yield os.path.relpath(os.path.join(folder, name), REPO)


def python_blocks():
  """(document, block number, code) of every Python block to run."""
  blocks = []
  for document in _documents():
    with open(os.path.join(REPO, document)) as f:
      text = f.read()
    for number, match in enumerate(_BLOCK.finditer(text), 1):
      if not match.group(1):
        blocks.append(pytest.param(match.group(2),
                                   id=f"{document}#{number}"))
  return blocks


def test_the_documents_have_python_blocks():
  ids = [b.id for b in python_blocks()]
  assert "docs/guides/robust-training.md#1" in ids
  assert "docs/guides/your-model.md#1" in ids


@pytest.mark.parametrize("code", python_blocks())
def test_python_block_runs(code, tmp_path):
  result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                                   PYTHONPATH=REPO),
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]


def test_the_docs_site_builds_strictly(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
       "-d", str(tmp_path / "site")], cwd=REPO,
      env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
  for name in ("search_masks", "prune_with_masks", "robust_trainer",
               "strip_pruning", "certify_model", "export_tflite"):
    assert f"csam_tf.api.{name}" in api
