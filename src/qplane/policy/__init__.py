"""qplane.policy."""
