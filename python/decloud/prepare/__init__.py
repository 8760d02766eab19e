"""Preparation stages: products -> Decloud's stored rasters (see each module's documentation)."""

from .dem import prepare_dem
from .s1 import S1_STRETCH, prepare_s1
from .s2 import PreparedS2, block_counts, prepare_s2

__all__ = ["PreparedS2", "S1_STRETCH", "block_counts", "prepare_dem", "prepare_s1", "prepare_s2"]
