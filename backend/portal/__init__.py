"""The nurse review portal: server-rendered pages under /portal over the same services
as the API (no logic of its own), signed in with a session cookie."""
