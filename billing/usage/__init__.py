"""Usage: exports to billing systems, FOCUS rows, chargeback tags."""
