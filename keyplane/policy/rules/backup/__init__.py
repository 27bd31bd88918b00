"""Rules of the backup area."""
