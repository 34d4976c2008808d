"""A workdir belongs to one run: its layout is spelled once, and a second
command with other result-shaping flags is refused before it writes."""

import os

import pytest

from csam_tf.core import workdir
from csam_tf.core.errors import UsageError


def test_layout_names_each_file_once_under_its_stage():
  files = [workdir.PRETRAIN_WEIGHTS, workdir.PRETRAIN_MODEL,
           workdir.BINARY_MASKS, workdir.FINETUNE_WEIGHTS,
           workdir.FINETUNE_MODEL, workdir.FINETUNE_GATED_MODEL,
           workdir.SAVED_MODEL, *workdir.TFLITE.values()]
  assert len(set(files)) == len(files)
  assert [f.split("/")[0] for f in files] == (
      ["pretrain"] * 2 + ["mask"] + ["finetune"] * 3 + ["export"] * 4)
  assert workdir.MODEL_FILES == {"dense": "pretrain/model.keras",
                                 "pruned": "finetune/model.keras",
                                 "tflite": "export/model.tflite"}


def test_a_second_command_with_other_flags_is_refused(tmp_path):
  path = str(tmp_path / "run")
  workdir.check_compatible(path, {"seed": 0}, ())  # nothing there yet
  os.makedirs(path)
  workdir.record(path, {"seed": 0, "stages": "pretrain", "lr": 0.1})
  workdir.record(path, {"seed": 5})  # never over the first run's record
  workdir.check_compatible(path, {"seed": 0, "stages": "mask"}, ("stages",))
  with pytest.raises(UsageError, match=r"holds a run with --lr=0.1, not "
                     r"0.2 \(and 1 more\); use another --workdir"):
    workdir.check_compatible(path, {"seed": 1, "lr": 0.2}, ())


def test_check_writable_names_the_flag_and_the_folder(tmp_path):
  workdir.check_writable(str(tmp_path / "new" / "deeper"))
  afile = tmp_path / "afile"
  afile.write_text("x")
  with pytest.raises(UsageError, match=r"^--records_dir=.*afile/run: .*afile "
                     r"is a file, not a folder$"):
    workdir.check_writable(str(afile / "run"), flag="records_dir")
