"""The weekly sync of derived endpoint values into the trial database (docs/design.md,
"Trial endpoint tables"): derivations, the target's own tables, runs and exports."""
