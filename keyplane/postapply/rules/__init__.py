"""Post-apply checks, one per file, by area (rotation, drift, access, discover)."""
