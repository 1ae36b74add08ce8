"""Freeze and lock of a participant's data (or one visit's) at close-out, and what it refuses."""
