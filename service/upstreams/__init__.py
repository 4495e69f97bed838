"""Importers: each resolves a source to a commit and yields its files as (path, byte chunks)."""
