"""Bulk CSV import and export at PostgreSQL's own speed (see pipeline.py)."""
