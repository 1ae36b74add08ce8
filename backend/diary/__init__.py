"""The daily rest-pain diary (NRS 0-10): one current score per local diary day, versioned."""
