"""The `corral` command line: Docker-style verbs over the HTTP API, via the SDK."""
