"""`bazel query //...` lists the library, trainers and test targets.

Needs Bazel (Debian's bazel-bootstrap works offline); skipped without it.
"""

import shutil
import subprocess

import pytest

from conftest import REPO


@pytest.mark.skipif(shutil.which("bazel") is None,
                    reason="bazel not installed (apt-get install bazel-bootstrap)")
def test_bazel_query_lists_library_trainers_and_tests():
  result = subprocess.run(["bazel", "query", "//..."], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
  subprocess.run(["bazel", "shutdown"], cwd=REPO, capture_output=True,
                 timeout=120)
  assert result.returncode == 0, result.stderr
  targets = set(result.stdout.split())
  assert {"//csam_tf:csam_tf", "//csam_tf:pipeline", "//csam_tf:train",
          "//csam_tf:certify", "//csam_tf:experiments",
          "//trainers:trainers", "//tests:test_transforms",
          "//tests:test_train_cli"} <= targets
