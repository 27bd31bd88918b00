"""Rules of the gcp area."""
