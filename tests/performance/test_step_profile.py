"""`python -m csam_tf.step_profile` on a tiny trained model: the step's
parts and the certification parts are measured and written, labelled."""

import re

import pytest

from conftest import BENCH_TINY, run_module

# One test process trains conftest's tiny dense workdir for the bench's
# and the profiler's tests (`make test`: pytest-xdist --dist loadgroup).
pytestmark = [pytest.mark.xdist_group("tiny_dense"),
              pytest.mark.heavy(55)]


def test_profile_writes_a_labelled_section(tmp_path, tiny_dense_workdir):
  markdown = tmp_path / "BENCH.md"
  markdown.write_text("# Benchmarks\n")
  result = run_module(
      "csam_tf.step_profile", f"--model_workdir={tiny_dense_workdir}",
      "--profile_steps=3", "--profile_cert_images=2", "--cert_nsamples=10",
      "--cert_nbounds=2", f"--profile_logdir={tmp_path / 'log'}",
      "--profile_label=after", f"--bench_markdown={markdown}", *BENCH_TINY,
      timeout=600, fresh_interpreter=True)  # its own imports, as users do
  assert result.returncode == 0, result.stderr[-3000:]
  text = markdown.read_text()
  assert "<!-- BEGIN csam_tf.step_profile after -->" in text
  assert "### Profile: after" in text
  parts = dict(re.findall(
      r"^\| ([\w ()]+) \| [\d.]+ \| [\d.]+ \| ([\d.]+)% \|$", text, re.M))
  # The step's parts are named by its name scopes and account for all op
  # time (how the time splits depends on the machine, so it is not
  # checked; only that every part the step always runs is measured).
  for part in ("noisy_forward", "soft_binary_forward", "transform"):
    assert part in parts, (part, text)
  assert abs(sum(float(v) for v in parts.values()) - 100.0) < 0.5
  shares = [float(s) for s in re.findall(
      r"^\| (?:model forward|transformation batches|CC-Cert bound|rest "
      r"\(softmax, bookkeeping, CSV\)) \| [\d.-]+ \| ([\d.-]+)% \|$",
      text, re.M)]
  assert len(shares) == 4 and abs(sum(shares) - 100.0) < 0.5
  assert list((tmp_path / "log").rglob("*.xplane.pb"))
