"""Secret env values of a workspace: sealed at create, opened only to start a process.

An inline secret (`{"value": "...", "secret": true}`) is sealed with AES-GCM under the
workspace's own data key (`workspace:<id>`), bound to the variable's name; a reference
(`{"secret": "openai"}`) names one of the owner's secrets and is looked up each time the
workspace starts a process, so a new value reaches it on its next start.
"""

from __future__ import annotations

from collections.abc import Mapping

from corral.engine.spec import EnvValue, SecretEnv, SecretRef, SecretValue, WorkspaceRecord
from corral.errors import InvalidSpec
from corral.secrets.keyring import Keyring
from corral.secrets.tenant import TenantSecrets


def data_key_id(workspace_id: str) -> str:
    return f"workspace:{workspace_id}"


def _context(workspace_id: str, name: str) -> str:
    return f"env:{workspace_id}:{name}"


def split(env: Mapping[str, EnvValue]) -> tuple[dict[str, str], dict[str, EnvValue]]:
    """Plain values, and the secret ones (inline values and references)."""
    plain = {k: v for k, v in env.items() if isinstance(v, str)}
    return plain, {k: v for k, v in env.items() if not isinstance(v, str)}


def check_refs(secrets: TenantSecrets, owner: str, env: Mapping[str, EnvValue]) -> None:
    for name, value in env.items():
        if isinstance(value, SecretRef) and not secrets.exists(owner, value.name):
            raise InvalidSpec(
                f"env {name} refers to secret {value.name!r}, which does not exist",
                hint=f"set it first: corral secret set {value.name}",
            )


def seal(keyring: Keyring, workspace_id: str, env: Mapping[str, EnvValue]) -> dict[str, SecretEnv]:
    sealed = {}
    for name, value in env.items():
        if isinstance(value, SecretValue):
            blob = keyring.seal(
                data_key_id(workspace_id), value.value, _context(workspace_id, name)
            )
            sealed[name] = SecretEnv(sealed=blob)
        elif isinstance(value, SecretRef):
            sealed[name] = SecretEnv(ref=value.name)
    return sealed


def values(keyring: Keyring, ws: WorkspaceRecord) -> dict[str, EnvValue]:
    """A workspace's secret env as request values: inline ones opened, references as such.

    For a fork, whose `create` seals them again under its own data key.
    """
    env: dict[str, EnvValue] = {}
    for name, value in ws.secret_env.items():
        if value.sealed is not None:
            env[name] = SecretValue(
                keyring.unseal(data_key_id(ws.id), value.sealed, _context(ws.id, name))
            )
        elif value.ref is not None:
            env[name] = SecretRef(value.ref)
    return env


def reveal(keyring: Keyring, secrets: TenantSecrets, ws: WorkspaceRecord) -> dict[str, str]:
    """The plaintext of a workspace's secret env, to hand to the runtime (never to store)."""
    return {
        name: value.value if isinstance(value, SecretValue) else secrets.value(ws.owner, value.name)
        for name, value in values(keyring, ws).items()
        if not isinstance(value, str)
    }


def references(ws: WorkspaceRecord, secret: str) -> bool:
    return any(value.ref == secret for value in ws.secret_env.values())
