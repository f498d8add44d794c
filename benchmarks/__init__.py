"""Scripts that print the performance tables (never timed tests): ``make bench`` runs them all."""
