"""The `pql` command: mounts the sub-commands that features, training and serving own."""

__version__ = "0.1.0"
