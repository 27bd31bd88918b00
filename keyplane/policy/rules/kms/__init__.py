"""Rules of the kms area."""
