"""Batch-norm folding lives in ``kseg.graph.fold_batchnorm``; this path keeps working."""

from kseg.graph.fold_batchnorm import fold_batchnorm, foldable_pairs

__all__ = ["fold_batchnorm", "foldable_pairs"]
