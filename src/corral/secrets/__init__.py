"""Envelope encryption: a master key wraps per-object keys, which encrypt data at rest.

- `envelope`: the pure primitives (AES-256-GCM seal/open, key wrapping, key check values).
- `master`: the master key file (created on first start, or supplied by the operator) and
  its crash-safe replacement during rotation.
- `keyring`: the service the engine uses: named keys (disk keys, data keys), created,
  unwrapped, destroyed and re-wrapped under a new master key.
- `tenant`: each owner's named secrets (`corral secret set NAME`), sealed under the owner's
  data key.
"""
