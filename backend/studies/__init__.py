"""Studies and their versioned protocols: sites, cohorts, visits and windows."""
