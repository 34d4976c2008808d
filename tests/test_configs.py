"""Every flagfile in configs/ parses and passes the flag validators."""

import glob
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.cfg")))
_PARSE = ("import json, sys; from csam_tf.pipeline import pipeline_flags; "
          "pipeline_flags.FLAGS(['train', '--flagfile=' + sys.argv[1]]); "
          "print(json.dumps(pipeline_flags.run_flags()))")


def test_a_config_per_paper_setting():
  names = {os.path.basename(c)[:-4] for c in CONFIGS}
  for dataset in ("cifar10_corrupted", "oxford_flowers102", "celeb_a_hq"):
    for arch in ("resnet18", "googlenet", "mobilenet_v2"):
      assert f"{dataset}_{arch}" in names
  assert "demo" in names


@pytest.mark.parametrize("config", CONFIGS, ids=os.path.basename)
def test_config_parses(config):
  result = subprocess.run([sys.executable, "-c", _PARSE, config], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  values = json.loads(result.stdout)
  # the project's own flags only: not absl's or TensorFlow's
  assert {"workdir", "seed", "stages", "arch", "dataset"} <= set(values)
  assert "verbosity" not in values and "logtostderr" not in values
  name = os.path.basename(config)[:-4]
  if name in ("demo", "demo_channel", "bench_fashion_mnist",
              "fashion_mnist_full"):
    assert values["dataset"] == "fashion_mnist"
    # the demo is sized for a slow 2-core machine (README, "The two commands")
    assert values["width_multiplier"] == (0.125 if name == "demo" else 0.25)
    assert values["granularity"] == (
        "channel" if name == "demo_channel" else "unstructured")
  elif name in ("demo_vit", "bench_vit"):
    assert (values["dataset"], values["arch"]) == ("fashion_mnist", "vit")
    assert values["vit_dim"] % values["vit_heads"] == 0
    assert 28 % values["vit_patch_size"] == 0
  elif name.startswith("bench_gpu_"):
    assert name == f"bench_gpu_{values['dataset']}_{values['arch']}"
    assert values["cert_num_images"] == 1000
  else:
    assert name == f"{values['dataset']}_{values['arch']}"
    assert values["pretrain_epochs"] == 50
  if name.startswith("bench_"):  # the suite sets these per run
    with open(config) as f:
      lines = [l for l in f if l.startswith("--")]
    assert not any(l.startswith(f"--{flag}=") for l in lines
                   for flag in ("seed", "sparsity", "stages", "workdir"))
