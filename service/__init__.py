"""Depot: upload and ingestion service for machine-learning data and models."""

__version__ = "0.1.0"
