"""Usage's ports: the analytics store, FOCUS reads, usage reports."""
