"""qplane.sdk."""
