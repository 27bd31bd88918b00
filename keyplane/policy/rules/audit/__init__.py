"""Rules of the audit area."""
