"""Stage 2: the per-frame canonical-6 corpus (build, schema, merge)."""
