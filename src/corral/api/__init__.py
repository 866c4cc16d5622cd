"""The HTTP API: auth, validation and translation only; the engine does the work."""
