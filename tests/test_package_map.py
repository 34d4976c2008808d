"""The package map, checked: the folders are the layers. Every module of
csam_tf and trainers sits in a layer's folder (or is the layer, for a
one-module layer), imports (at the top or inside a function) only from its
own layer or lower ones, and no two modules import each other, directly or
round a circle. A command (a module that runs `if __name__ ==
"__main__"` and that nothing imports: the shims at csam_tf's root and the
packages' __main__) may import anything."""

import ast
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

# The layers, lowest first: csam_tf/<name>/ (a folder, or <name>.py for a
# one-module layer) and the top-level trainers/ package; `api` is
# csam_tf/api.py with the package's __init__, which loads it.
LAYERS = ("core", "data", "transforms", "models", "structured", "masking",
          "trainers", "certify", "export", "pipeline", "experiments",
          "performance", "api")


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


def _layer_name(module):
  """The layer a module's place in the tree puts it in (None: loose at
  csam_tf's root, where only the API and the commands may sit)."""
  parts = module.split(".")
  if parts[0] == "trainers":
    return "trainers"
  if module in ("csam_tf", "csam_tf.api"):
    return "api"
  return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _is_command(module, source):
  return bool(re.search(r'^if __name__ == "__main__":', source, re.M))


MODULE_SOURCES = {m: open(p).read() for m, p in MODULES.items()}
COMMANDS = {m for m, source in MODULE_SOURCES.items()
            if _is_command(m, source)}


def _layer(module):
  name = _layer_name(module)
  assert name is not None, (
      f"{module} sits loose at csam_tf's root: put it in the folder of its "
      f"layer ({', '.join(LAYERS)})")
  return LAYERS.index(name)


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


GRAPH = {module: _imports(MODULE_SOURCES[module], module,
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
        upward.append(f"{module} ({LAYERS[_layer(module)]}) imports "
                      f"{target} ({LAYERS[_layer(target)]})")
  return upward


def test_every_module_is_in_a_layer_and_imports_only_downwards():
  for module in sorted(set(MODULES) - COMMANDS):
    _layer(module)
  upward = upward_imports(GRAPH)
  assert not upward, "\n".join(upward)


def test_every_layer_is_a_folder_or_one_module_and_nothing_else_is():
  """The list above and the tree agree: each layer exists, and every
  folder of csam_tf is a layer (a new folder needs its place in the map)."""
  root = os.path.join(REPO, "csam_tf")
  folders = {n for n in os.listdir(root) if os.path.isfile(
      os.path.join(root, n, "__init__.py"))}
  single = {n[:-3] for n in os.listdir(root) if n.endswith(".py")}
  assert folders <= set(LAYERS), folders - set(LAYERS)
  for layer in LAYERS:
    assert (layer in folders or layer in single or layer == "trainers"), layer
  loose = {f"csam_tf.{n}" for n in single} - {"csam_tf.__init__"}
  assert {m for m in loose if _layer_name(m) is None} <= COMMANDS, (
      "modules loose at csam_tf's root that are not commands")


def test_commands_are_imported_by_nothing():
  for module, imported in GRAPH.items():
    assert not imported & COMMANDS, (module, imported & COMMANDS)


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
            "from ..pipeline import stages\n")
  imported = _imports(source, "csam_tf.certify.sampler")
  assert imported == {"csam_tf.certify.rows", "csam_tf.export",
                      "csam_tf.pipeline.stages"}
  assert sorted(upward_imports({"csam_tf.certify.sampler": imported})) == [
      "csam_tf.certify.sampler (certify) imports csam_tf.export (export)",
      "csam_tf.certify.sampler (certify) imports csam_tf.pipeline.stages "
      "(pipeline)"]
  assert upward_imports({"csam_tf.pipeline.run_summary": imported - {
      "csam_tf.pipeline.stages"}}) == []


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
