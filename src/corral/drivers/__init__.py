"""Drivers: the engine's only way to touch the host (runtime, network, storage)."""
