"""Usage's tables: the analytics copy, exports' state, FOCUS reads, rollups, the export scan's
bounds."""
