"""A generated section of a Markdown file replaced, the rest kept."""

import pytest

from csam_tf.core import markdown_sections


@pytest.mark.parametrize("document,expected", [
    ("# B\n\ntext\n", "# B\n\ntext\n\n<!-- BEGIN s -->\nnew\n<!-- END s -->\n"),
    ("a\n<!-- BEGIN s -->\nold\n<!-- END s -->\nb\n",
     "a\n<!-- BEGIN s -->\nnew\n<!-- END s -->\nb\n"),
])
def test_replace_section(document, expected):
  assert markdown_sections.replace_section(document, "s", "new\n") == expected


def test_update_section_creates_the_file_then_rewrites_only_its_section(
    tmp_path):
  path = str(tmp_path / "B.md")
  markdown_sections.update_section(path, "s", "one")
  assert open(path).read() == "\n\n<!-- BEGIN s -->\none\n<!-- END s -->\n"
  with open(path, "a") as f:
    f.write("hand-written\n")
  markdown_sections.update_section(path, "s", "two\n")
  assert open(path).read() == (
      "\n\n<!-- BEGIN s -->\ntwo\n<!-- END s -->\nhand-written\n")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["B.md"]  # no temp
