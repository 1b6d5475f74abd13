"""qplane.cli."""
