"""The ViT's shape, importable without TensorFlow (flags build it)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ViTConfig:
  """--vit_patch_size, --vit_dim, --vit_depth, --vit_heads, --vit_mlp_ratio."""
  patch_size: int = 4
  dim: int = 64
  depth: int = 6
  heads: int = 4
  mlp_ratio: float = 2.0
