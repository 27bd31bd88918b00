"""Rules of the iam area."""
