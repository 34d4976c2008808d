"""--certificate's spelling: FAMILIES/LEVEL[/BOUND[/NBOUNDS]]."""

import pytest

from csam_tf.certify.config import parse_certificate


@pytest.mark.parametrize("text,expected", [
    ("composite/L1", (("composite",), "L1", "ccert", 10)),
    ("brightness,rotation/L2", (("brightness", "rotation"), "L2", "ccert",
                                10)),
    ("composite/L2/binomial", (("composite",), "L2", "binomial", 10)),
    ("composite/L2/binomial/24", (("composite",), "L2", "binomial", 24)),
    ("examples.transforms.jpeg:jpeg_quality/L2",
     (("examples.transforms.jpeg:jpeg_quality",), "L2", "ccert", 10)),
])
def test_parts_and_defaults(text, expected):
  assert parse_certificate(text, "ccert", 10) == expected


def test_bound_and_blocks_default_to_the_flags():
  assert parse_certificate("composite/L2", "clopper_pearson", 3) == (
      ("composite",), "L2", "clopper_pearson", 3)


@pytest.mark.parametrize("text,message", [
    ("composite", "is not FAMILIES/LEVEL"),
    ("composite/L2/ccert/10/x", "is not FAMILIES/LEVEL"),
    ("composite//ccert", "is not FAMILIES/LEVEL"),
    ("composite,/L2", "names an empty family"),
    ("composite/L2/fancy", "bound 'fancy' is not one of ccert, binomial, "
     "clopper_pearson"),
    ("composite/L2/ccert/0", "NBOUNDS '0' is not a whole number"),
    ("composite/L2/ccert/2.5", "NBOUNDS '2.5' is not a whole number"),
])
def test_bad_spelling_says_what_is_wrong(text, message):
  with pytest.raises(ValueError, match=message):
    parse_certificate(text, "ccert", 10)
