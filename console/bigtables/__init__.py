"""Helpers for tables too big to count or to page through with OFFSET."""
