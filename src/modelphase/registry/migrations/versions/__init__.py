"""Migration scripts, one a revision."""
