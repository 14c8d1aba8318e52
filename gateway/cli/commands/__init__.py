"""The commands' own modules, one per command family (`meterway NAME`), imported only when that
command runs."""
