"""Trial participants (subject codes only) and their devices."""
