"""qplane.api."""
