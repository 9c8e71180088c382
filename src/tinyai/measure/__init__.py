"""Measurement, separate from the techniques: `summary` (what a model stores and computes)
and `evaluate` (task metrics). Submodules import torch; this package itself imports nothing,
so ``tinyai.measure.evaluate`` on an artifact can stay light.

    from tinyai.measure.summary import summary, ModelSummary   # also tinyai.summary
"""
