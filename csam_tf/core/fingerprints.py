"""A model's fingerprint: what a certification CSV records beside its rows
(and an export beside its .tflite), so a resumed run never mixes rows of
another model."""

import hashlib
from typing import Iterable


def fingerprint_bytes(chunks: Iterable[bytes]) -> str:
  """sha256 of the model's bytes (weights in order, or the .tflite), first
  16 hex digits."""
  digest = hashlib.sha256()
  for chunk in chunks:
    digest.update(chunk)
  return digest.hexdigest()[:16]
