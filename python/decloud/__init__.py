"""Decloud: cloud removal for Sentinel-2 images on Orfeo ToolBox and TensorFlow."""

__version__ = "0.1.0"
