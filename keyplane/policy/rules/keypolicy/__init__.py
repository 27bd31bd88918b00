"""Rules of the keypolicy area."""
