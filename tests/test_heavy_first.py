"""conftest's scheduling order for `make test`: heaviest tests and groups
first, the rest in collection order."""

import pytest

from conftest import heavy_first


class _Item:
  """What heavy_first reads of a pytest item: its name and `heavy` mark."""

  def __init__(self, name, seconds=None):
    self.name = name
    self._mark = None if seconds is None else pytest.mark.heavy(seconds).mark

  def get_closest_marker(self, name):
    return self._mark if name == "heavy" else None


def test_heaviest_first_then_collection_order():
  items = [_Item("a"), _Item("b", 25), _Item("c"), _Item("d", 110),
           _Item("e", 25), _Item("f")]
  heavy_first(items)
  assert [i.name for i in items] == ["d", "b", "e", "a", "c", "f"]
