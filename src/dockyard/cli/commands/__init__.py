"""One module per command group; each has ``add_arguments`` and ``run``."""
