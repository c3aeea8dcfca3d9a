"""Strategy modules, one a file; loaded by name (``strategies.<name>``) or by path."""
