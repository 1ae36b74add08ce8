"""Staff accounts: roles and site memberships."""
