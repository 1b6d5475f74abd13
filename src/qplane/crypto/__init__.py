"""qplane.crypto."""
