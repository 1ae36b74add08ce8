"""The nurse's queue: flags raised by patient entries and by the missed-diary scan."""
