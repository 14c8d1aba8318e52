"""What a call used, read from each wire: token counts, usage, stream tallies, audio, images and
the provider's stated cost.
"""
