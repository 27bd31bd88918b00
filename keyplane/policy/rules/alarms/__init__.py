"""Rules of the alarms area."""
