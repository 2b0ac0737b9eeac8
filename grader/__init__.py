"""layergrade: grade the modular-layers assignment against fixed-seed test vectors."""

__version__ = "0.1.0"
