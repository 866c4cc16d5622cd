"""Tenancy: who owns what, how much of the host they may take, and what their keys may do.

- `scopes`: every resource's `owner` is a tenant, or the children of one workspace of a
  tenant (the scope of that workspace's own API token); keys carry that owner, so every
  route's owner filter isolates tenants, and confines a workspace token to its children.
- `quotas`: per-tenant limits, checked before anything of a workspace is made.
- `children`: what a workspace token may create (its creator's `child_policy`), and the
  cascade that destroys children with their parent.
- `audit`: one record per mutating API call, written by one middleware.
- `service`: `Tenancy`, the facade the daemon attaches to the engine and the admin API uses.
"""
