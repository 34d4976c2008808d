"""A model's fingerprint: sha256 of its bytes in order, however chunked."""

from csam_tf.core import fingerprints


def test_fingerprint_is_the_sha256_prefix_of_the_bytes_in_order():
  # sha256("abc") = ba7816bf 8f01cfea 414140de ... (FIPS 180-2, example 1)
  assert fingerprints.fingerprint_bytes([b"abc"]) == "ba7816bf8f01cfea"
  assert fingerprints.fingerprint_bytes([b"a", b"", b"bc"]) == (
      "ba7816bf8f01cfea")
  assert fingerprints.fingerprint_bytes([b"bc", b"a"]) != "ba7816bf8f01cfea"
