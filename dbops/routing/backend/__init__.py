"""The database backend for every alias: see `base`."""
