"""Walkers over a Keras model's layer graph: what a model is, not what it computes.

* ``receptive_field(model)``: theoretical receptive field and stride.
* ``flops(model, input_shape)``: analytical FLOPs of one forward pass.
* ``fold_batchnorm(model)`` / ``foldable_pairs(model)``: an inference clone
  with conv + batch-norm pairs folded into one convolution.

They read the model's graph through ``kseg._compat`` and import no other
kseg subpackage, so ``kseg.layers`` (``receptive_field``), ``kseg.models``
(``flops``) and ``kseg.export`` (``fold_batchnorm``) re-export them.
"""

from kseg.graph.flops import flops
from kseg.graph.fold_batchnorm import fold_batchnorm, foldable_pairs
from kseg.graph.receptive_field import receptive_field

__all__ = ["flops", "fold_batchnorm", "foldable_pairs", "receptive_field"]
