"""qplane.worker."""
