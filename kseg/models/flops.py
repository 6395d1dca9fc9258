"""``flops`` lives in ``kseg.graph.flops``; this path keeps working."""

from kseg.graph.flops import flops

__all__ = ["flops"]
