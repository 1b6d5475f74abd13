"""qplane.store."""
