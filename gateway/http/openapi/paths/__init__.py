"""Each surface's paths and operations, assembled by document.py."""
