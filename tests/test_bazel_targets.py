"""The BUILD files name the library, trainer, CLI and test targets: read
by a small Starlark stand-in everywhere, and by `bazel query //...` where
Bazel is installed (Debian's bazel-bootstrap works offline; that one test is
skipped without it, the other always runs).
"""

import glob as globlib
import os
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
  assert EXPECTED <= targets


EXPECTED = {"//csam_tf:csam_tf", "//csam_tf:pipeline", "//csam_tf:train",
          "//csam_tf:certify", "//csam_tf:experiments",
          "//trainers:trainers", "//tests:transforms/test_transforms",
          "//tests:pipeline/test_train_cli"}


def _read_build_files():
  """{'//package:name': [existing src paths]} from every BUILD file, by
  executing it with stand-ins for the rules it uses."""
  targets = {}
  for build in globlib.glob(os.path.join(REPO, "**", "BUILD"),
                            recursive=True):
    package = os.path.relpath(os.path.dirname(build), REPO)
    if package.startswith((".venv", "runs")):
      continue
    folder = os.path.dirname(build)

    def glob(patterns, exclude=(), folder=folder):
      found = {os.path.relpath(p, folder) for pattern in patterns
               for p in globlib.glob(os.path.join(folder, pattern),
                                     recursive=True)}
      return sorted(found - set(exclude))

    def rule(name, srcs=(), package=package, folder=folder, **_):
      targets[f"//{package}:{name}"] = [os.path.join(folder, s)
                                        for s in srcs]

    with open(build) as f:
      exec(f.read(), {"glob": glob, "package": lambda **_: None,  # pylint: disable=exec-used
                      "py_library": rule, "py_binary": rule, "py_test": rule})
  return targets


def test_build_files_name_the_targets_and_every_module():
  targets = _read_build_files()
  assert EXPECTED <= set(targets)
  listed = {os.path.abspath(p) for srcs in targets.values() for p in srcs}
  assert all(os.path.exists(p) for p in listed)
  for package in ("csam_tf", "trainers", "tests"):
    modules = {os.path.abspath(p) for p in globlib.glob(
        os.path.join(REPO, package, "**", "*.py"), recursive=True)}
    assert modules - listed == set(), package
