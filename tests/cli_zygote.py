"""Runs the command-line programs of the tests in children forked from one
process that has already imported keras_cv, TensorFlow, tf_keras and tfmot.

Each `python -m csam_tf.train` of a test otherwise spends 5-7 CPU-s
importing them (AMD EPYC, AVX2, CPU): over the suite's runs of the command,
105 CPU-s fewer in a full `make test` (about 6% of its CPU). Importing
TensorFlow runs no op, so its eager context and thread pools do not exist
yet when the zygote forks: each child starts them as a fresh process
would. A child runs the program as `python -m` does
(`runpy`, `__main__`, its argv, environment and working directory, stdin
from /dev/null) and exits through the interpreter (atexit hooks run).
What it cannot show is the program's own start-up (its imports and what
they print) nor another TF_CPP_MIN_LOG_LEVEL than the zygote's (TensorFlow
reads it once, at its first log line), nor a command's own imports in
their order (keras_cv before tfmot): tests of those, and one run of each
command, start a fresh interpreter (`run_module(..., fresh_interpreter=
True)`); the example script runs as users run it.

`python tests/cli_zygote.py` is the server: one JSON request a line on
stdin, `{"pid": ...}` then `{"status": ...}` (os.waitpid's) a line each on
stdout; it exits when stdin closes (the test process went away).
"""

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

_HERE = os.path.abspath(__file__)


def _serve():
  """Imports the stack once, then forks a child for each request."""
  requests = os.fdopen(os.dup(0), "r")
  replies = os.fdopen(os.dup(1), "w")
  devnull = os.open(os.devnull, os.O_RDWR)
  os.dup2(devnull, 0)
  os.dup2(2, 1)  # nothing of the imports reaches the protocol
  import keras_cv  # noqa: F401  (Keras 3 before tfmot, as the CLI does)
  import tensorflow_model_optimization  # noqa: F401
  import tf_keras  # noqa: F401
  from tensorflow.python.eager import context
  # pylint: disable-next=protected-access
  if context.context()._context_handle is not None:
    sys.exit("cli_zygote: importing TensorFlow started its runtime: a "
             "forked child would inherit it half-built")
  sys.path.pop(0)  # this file's folder; a child puts its cwd there
  sys.stdout.flush()  # nothing of the imports' output reaches a child's
  sys.stderr.flush()
  for line in requests:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
      requests.close()
      replies.close()
      _become_the_program(request, devnull)  # never returns
    replies.write(json.dumps({"pid": pid}) + "\n")
    replies.flush()
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps({"status": status}) + "\n")
    replies.flush()


def _become_the_program(request, devnull):
  """In the child: the program's cwd, environment, output files and argv,
  then the program as `python -m` runs it."""
  import random
  import runpy
  import numpy as np
  os.chdir(request["cwd"])
  os.environ.clear()
  os.environ.update(request["env"])
  # A fresh process meets CUDA's absence (cuInit's ERROR line) while it
  # imports TensorFlow, where the CLI holds those lines back; here the
  # first device listing meets it, so it is done before the program's
  # stderr is open.
  os.dup2(devnull, 2)
  import tensorflow as tf
  tf.config.list_physical_devices()
  for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, fd)
    os.close(out)
  os.dup2(devnull, 0)
  random.seed()  # a fresh process's own entropy, not the zygote's copy
  np.random.seed()
  signal.signal(signal.SIGINT, signal.default_int_handler)
  sys.path.insert(0, request["cwd"])
  sys.argv = [request["module"], *request["args"]]
  code = 0
  try:
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
  except SystemExit as e:
    code = e.code
  except BaseException:  # pylint: disable=broad-except
    sys.excepthook(*sys.exc_info())  # as the interpreter reports it
    code = 1
  sys.exit(code)


class Zygote:
  """The client: one server per test process, started on first use."""

  def __init__(self):
    self._server = None
    self._pending = b""
    atexit.register(self.close)

  def _start(self):
    if self._server is None or self._server.poll() is not None:
      self._server = subprocess.Popen(
          [sys.executable, _HERE], stdin=subprocess.PIPE,
          stdout=subprocess.PIPE, text=True, bufsize=1,
          env=dict(os.environ, CLI_ZYGOTE_SERVER="1"))
      self._pending = b""
    return self._server

  def close(self):
    """Ends the server and waits for it (so the test process's CPU time
    counts its children's)."""
    if self._server is not None and self._server.poll() is None:
      self._server.stdin.close()
      try:
        self._server.wait(timeout=60)
      except subprocess.TimeoutExpired:  # a child still running
        self._server.kill()

  def run(self, args, *, module, cwd, env, timeout):
    """Like subprocess.run(capture_output=True, text=True) of `python -m
    module args`: a CompletedProcess, or TimeoutExpired after the child is
    killed."""
    server = self._start()
    with tempfile.TemporaryDirectory() as folder:
      request = {"module": module, "args": list(args),
                 "cwd": os.path.abspath(cwd), "env": dict(env),
                 "stdout": os.path.join(folder, "stdout"),
                 "stderr": os.path.join(folder, "stderr")}
      server.stdin.write(json.dumps(request) + "\n")
      server.stdin.flush()
      pid = self._reply(None)["pid"]
      try:
        status = self._reply(timeout)["status"]
      except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        self._reply(None)
        raise
      outputs = []
      for name in ("stdout", "stderr"):
        with open(request[name], errors="replace") as f:
          outputs.append(f.read())
    return subprocess.CompletedProcess(
        [sys.executable, "-m", module, *args],
        os.waitstatus_to_exitcode(status), *outputs)

  def _reply(self, timeout):
    """The server's next line; TimeoutExpired after `timeout` s. (Read
    from the descriptor itself: a buffered reader may hold the next line
    where select cannot see it.)"""
    fd = self._server.stdout.fileno()
    deadline = None if timeout is None else time.monotonic() + timeout
    while b"\n" not in self._pending:
      if deadline is not None and not select.select([fd], [], [], max(
          0.0, deadline - time.monotonic()))[0]:
        raise subprocess.TimeoutExpired("cli_zygote", timeout)
      chunk = os.read(fd, 4096)
      if not chunk:
        raise RuntimeError("cli_zygote: the server died (its stderr is the "
                           "test's)")
      self._pending += chunk
    line, self._pending = self._pending.split(b"\n", 1)
    return json.loads(line)


if __name__ == "__main__":
  _serve()
