"""Each provider's wire format as its official SDK parses it: pure builders, no I/O."""
