"""Authentication (staff logins, patient device activation, tokens, throttling) and access rules."""
