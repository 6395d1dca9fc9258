"""``receptive_field`` lives in ``kseg.graph.receptive_field``; this path keeps working."""

from kseg.graph.receptive_field import receptive_field

__all__ = ["receptive_field"]
