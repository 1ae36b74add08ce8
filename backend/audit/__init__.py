"""The append-only audit trail of writes and the log of who read what."""
