"""The batch upload of an app that was offline: many entries, one result each."""
