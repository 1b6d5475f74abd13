"""qplane.audit."""
