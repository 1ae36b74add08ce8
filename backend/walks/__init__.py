"""Six-minute walk tests, recorded with the fields of the ATS guideline."""
