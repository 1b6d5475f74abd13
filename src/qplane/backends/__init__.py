"""qplane.backends."""
