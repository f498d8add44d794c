"""Stand-in model code (seconds per job), shipped in the sourcedir as the package model_code."""
