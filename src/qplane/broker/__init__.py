"""qplane.broker."""
