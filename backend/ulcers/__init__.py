"""Ulcers, their photos (upload, stripped storage, area analysis) and nurse review."""
