"""Rules of the inventory area."""
