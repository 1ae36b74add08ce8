"""Amputation events recorded by staff: date, leg, level; the source of MAJOR_/MINOR_AMPUTATION."""
