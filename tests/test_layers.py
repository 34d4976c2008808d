"""The package map of DEVELOPERS.md, checked: every module of csam_tf and
trainers belongs to one layer, imports (at the top or inside a function)
only from its own layer or lower ones, and no two modules import each
other, directly or round a circle. The commands that keep their names
beside the code they run import anything and are imported by nothing."""

import ast
import os
import subprocess
import sys

import pytest

from conftest import REPO

# Lowest first. A module belongs to the layer of its longest listed prefix
# (the root package `csam_tf` names only its __init__, which loads the API).
LAYERS = [
    ("base", ["csam_tf.errors", "csam_tf.atomic_io",
              "csam_tf.native_stderr", "csam_tf.progress", "csam_tf.machine",
              "csam_tf.cli", "csam_tf.report", "csam_tf.keras_cv_loader"]),
    ("data", ["csam_tf.data"]),
    ("transforms", ["csam_tf.transforms"]),
    ("models", ["csam_tf.models"]),
    ("structured", ["csam_tf.structured"]),
    ("masking", ["csam_tf.masking", "csam_tf.losses", "csam_tf.tfmot_bridge"]),
    ("trainers", ["trainers"]),
    ("certify", ["csam_tf.certify"]),
    ("export", ["csam_tf.export"]),
    ("pipeline", ["csam_tf.pipeline_stages", "csam_tf.stage_plan",
                  "csam_tf.distribute", "csam_tf.workdir", "csam_tf.summary",
                  "csam_tf.train"]),
    ("experiments", ["csam_tf.experiments"]),
    ("performance", ["csam_tf.performance"]),
    ("api", ["csam_tf.api", "csam_tf"]),  # `import csam_tf`: the package
]
COMMANDS = {"csam_tf.bench", "csam_tf.step_profile", "csam_tf.demo_budget",
            "csam_tf.structured.speed", "csam_tf.certify.__main__",
            "csam_tf.experiments.__main__"}


def _modules():
  """{dotted name: path} of every module of csam_tf and trainers."""
  found = {}
  for package in ("csam_tf", "trainers"):
    for root, _, names in os.walk(os.path.join(REPO, package)):
      for name in names:
        if name.endswith(".py"):
          path = os.path.join(root, name)
          dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
          found[dotted.removesuffix(".__init__")] = path
  return found


MODULES = _modules()


def _layer(module):
  best = max(((prefix, index) for index, (_, prefixes) in enumerate(LAYERS)
              for prefix in prefixes
              if module == prefix or (prefix != "csam_tf" and
                                      module.startswith(prefix + "."))),
             key=lambda pair: len(pair[0]), default=None)
  assert best is not None, f"{module} is in no layer of DEVELOPERS.md's map"
  return best[1]


def _imports(source, module, is_package=False):
  """The csam_tf and trainers modules that `source` (the text of
  `module`) imports, anywhere in it, relative imports resolved."""
  found = set()
  package = module if is_package else module.rpartition(".")[0]
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # from . import x, from ..pkg import y
        parts = package.split(".")
        parts = parts[:len(parts) - (node.level - 1)]
        base = ".".join(parts + ([base] if base else []))
      names = [f"{base}.{alias.name}" for alias in node.names]
      names = [n if n in MODULES else base for n in names]
    else:
      continue
    found.update(n for n in names if n in MODULES)
  return found


GRAPH = {module: _imports(open(path).read(), module,
                          path.endswith("__init__.py"))
         for module, path in MODULES.items()}


def upward_imports(graph):
  """'a (layer) imports b (layer)' for every import that runs up the map."""
  upward = []
  for module, imported in graph.items():
    if module in COMMANDS:
      continue
    for target in imported:
      assert target not in COMMANDS, f"{module} imports command {target}"
      if _layer(target) > _layer(module):
        upward.append(f"{module} ({LAYERS[_layer(module)][0]}) imports "
                      f"{target} ({LAYERS[_layer(target)][0]})")
  return upward


def test_every_module_is_in_a_layer_and_imports_only_downwards():
  upward = upward_imports(GRAPH)
  assert not upward, "\n".join(upward)


def test_no_import_circle():
  done, path = set(), []

  def visit(module):
    if module in path:
      circle = path[path.index(module):] + [module]
      pytest.fail("import circle: " + " -> ".join(circle))
    if module in done:
      return
    path.append(module)
    for target in sorted(GRAPH[module] - {module}):
      if not module.startswith(target + "."):  # a package's own __init__
        visit(target)
    path.pop()
    done.add(module)

  for module in sorted(GRAPH):
    visit(module)


def test_the_checker_sees_an_upward_import():
  """A certification module importing export (absolutely, inside a
  function) and the pipeline (relatively) is two violations; the same
  imports from the pipeline are none."""
  source = ("from csam_tf.certify import rows\n"
            "def f():\n"
            "  from csam_tf import export\n"
            "from .. import pipeline_stages\n")
  imported = _imports(source, "csam_tf.certify.sampler")
  assert imported == {"csam_tf.certify.rows", "csam_tf.export",
                      "csam_tf.pipeline_stages"}
  assert sorted(upward_imports({"csam_tf.certify.sampler": imported})) == [
      "csam_tf.certify.sampler (certify) imports csam_tf.export (export)",
      "csam_tf.certify.sampler (certify) imports csam_tf.pipeline_stages "
      "(pipeline)"]
  assert upward_imports({"csam_tf.summary": imported - {
      "csam_tf.pipeline_stages"}}) == []


def test_every_library_module_imports():
  """In a fresh process: the commands, and the two performance modules
  whose absl flags clash with bench's (--arch, --bench_markdown), are run
  by their own tests instead."""
  skip = COMMANDS | {"csam_tf.performance.demo_budget",
                     "csam_tf.performance.structured_speed"}
  names = sorted(set(MODULES) - skip)
  code = ("import importlib, keras_cv\n"  # Keras 3 before tfmot
          f"for name in {names!r}:\n"
          "  importlib.import_module(name)\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
