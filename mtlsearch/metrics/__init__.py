"""Per-task scores and the Δm aggregate."""
