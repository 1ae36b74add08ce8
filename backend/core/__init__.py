"""Pieces every domain package shares: schemas, time, idempotency, the blueprint."""
