"""Inference engines behind one streaming interface (see engine/base.py)."""
