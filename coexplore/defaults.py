"""Defaults shared by the run specs, the command line and the REST layer; free of heavy
imports, so that ``search --help`` still starts fast."""

from __future__ import annotations

__all__ = ["SEARCH_MAPPER", "SEARCH_BITS_AWARE"]

# What a search prices designs with unless told otherwise (issue #14): per layer, the tiling
# with the least energy-delay product, sized at the layer's own bit-widths too (a buffer holds
# twice the 4-bit words). Every search, sweep and `search cost` agrees on it, so a winner's
# verified fps is what `search cost` prints for it. ``AnalyticalModel.for_search()`` builds
# it; ``AnalyticalModel()`` itself keeps the data-movement-energy mapper (the cost-model
# bench's default and fastest path).
SEARCH_MAPPER = "edp"
SEARCH_BITS_AWARE = True

