"""Compatibility layers: other sandbox platforms' clients, working against corral unchanged."""
