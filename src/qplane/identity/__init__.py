"""qplane.identity."""
