"""Rules of the lifecycle area."""
