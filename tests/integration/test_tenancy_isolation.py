"""No tenant reaches another's resources, on any endpoint: the whole API is walked.

The walker reads the running daemon's OpenAPI documents (corral's, and E2B's compatible
API), and calls every operation that names a resource (in its path, a query parameter or
its body) with the victim's ids and the attacker's key. Parameters are filled by name and
by the collection they follow (`/v1/volumes/{ref}`: a volume), bodies from their schemas,
so a route added later is walked without touching this file. Each call must answer exactly
as it does for ids that exist nowhere: 404 for a path (never 403, which would say "it
exists"), and for bodies the same status and error either way. Lists never show the
victim's ids. The victim's resources are all still there afterwards.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.test_tenancy import MakeTenant, Tenant, bearer, tenant_factory

pytestmark = pytest.mark.integration


@pytest.fixture
def tenants(server: Daemon, http: httpx.Client) -> Iterator[MakeTenant]:
    with tenant_factory(server, http) as make:
        yield make

SPECS = {"": "/openapi.json", "/e2b": "/e2b/openapi.json"}  # mount prefix -> its document
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Collections whose path parameter names a resource: segment -> kind (see Victim.ids).
COLLECTIONS = {"workspaces": "workspace", "sandboxes": "workspace", "templates": "template",
               "volumes": "volume", "secrets": "secret", "links": "link", "webhooks": "webhook",
               "tenants": "tenant", "keys": "key"}  # fmt: skip
# Kinds named in the caller's own namespace (a secret's name): using the victim's name makes
# or touches the attacker's own, so the answer must only be the same as for any other name.
NAMESPACED = {"secret"}
# Query parameters and body fields that name a resource.
REFERENCES = {"workspace": "workspace", "from": "workspace", "source": "workspace",
              "to": "workspace", "volume": "volume", "template": "template"}  # fmt: skip


@dataclass
class Victim:
    """The resources an attacker must not reach: kind -> id (or name)."""

    ids: dict[str, str]
    names: list[str] = field(default_factory=list)  # what must not show up in lists
    known: set[str] = field(default_factory=set)  # kinds the attacker may know (not checked)

    def fake(self) -> Victim:
        """The same shape with ids that exist nowhere."""
        return Victim({kind: f"{value[:2]}{secrets.token_hex(6)}" for kind, value in
                       self.ids.items()})  # fmt: skip


# -- filling requests from the OpenAPI document -----------------------------------------------


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def example(doc: dict[str, Any], schema: dict[str, Any], name: str, victim: Victim) -> Any:
    """A valid value for `schema`; a field naming a resource gets the victim's."""
    schema = resolve(doc, schema)
    if name in REFERENCES and REFERENCES[name] in victim.ids:
        return victim.ids[REFERENCES[name]]
    if name == "command":
        return "true"
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            options = [o for o in schema[combinator] if resolve(doc, o).get("type") != "null"]
            return example(doc, options[0], name, victim)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {key: example(doc, props[key], key, victim) for key in schema.get("required", [])}
    if kind == "array":
        minimum = schema.get("minItems", 0)
        return [example(doc, schema.get("items", {}), name, victim) for _ in range(minimum)]
    if kind == "integer":
        return 8080 if "port" in name else max(int(schema.get("minimum", 16)), 16)
    if kind == "number":
        return max(float(schema.get("minimum", 1.0)), 0.5)
    if kind == "boolean":
        return False
    if schema.get("format") == "uri" or name == "url":
        return "http://127.0.0.1:9/walker"
    if name in ("path", "cwd"):
        return "/etc/hostname"
    return "walker" if name != "command" else "true"


@dataclass
class Call:
    method: str
    path: str  # the template, for messages
    url: str
    params: dict[str, Any]
    body: Any
    names_resource: bool  # a path parameter names one of the victim's resources
    references: bool  # it names one somewhere (path, query or body)


def _names_a_resource(name: str) -> bool:
    return name in ("ref", "id", "name") or name.endswith("_id")


def calls(doc: dict[str, Any], prefix: str, victim: Victim, strict: bool) -> Iterator[Call]:
    """Every operation, filled in; with `strict`, one naming a resource of a kind the victim
    lacks (or of a collection the walker does not know yet) is an error, else skipped."""
    for template, operations in doc["paths"].items():
        for method, op in operations.items():
            if method not in METHODS:
                continue
            call = _fill(doc, prefix, template, method, op, victim, strict)
            if call is not None:
                yield call


def _fill(doc: dict[str, Any], prefix: str, template: str, method: str, op: dict[str, Any],
          victim: Victim, strict: bool) -> Call | None:  # fmt: skip
    url, params, names_resource, references = prefix + template, {}, False, False
    segments = template.strip("/").split("/")
    for param in op.get("parameters", []):
        pname, where = param["name"], param["in"]
        if where == "path":
            position = segments.index("{" + pname + "}")
            kind = COLLECTIONS.get(segments[position - 1]) if position else None
            if kind is None and _names_a_resource(pname):
                assert not strict, (f"walker: {prefix}{template} names a resource of "
                                    f"an unknown kind: add it to COLLECTIONS")
                return None
            if kind is not None:
                if kind not in victim.ids:
                    assert not strict, f"walker: no victim {kind} for {template}"
                    return None
                value = victim.ids[kind]
                names_resource |= kind not in NAMESPACED
                references = True
            else:
                value = example(doc, param.get("schema", {}), pname, victim)
            url = url.replace("{" + pname + "}", str(value))
        elif where == "query" and REFERENCES.get(pname, "") in victim.ids:
            params[pname], references = victim.ids[REFERENCES[pname]], True
        elif where == "query" and param.get("required"):
            params[pname] = example(doc, param.get("schema", {}), pname, victim)
    body = None
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = example(doc, content["application/json"].get("schema", {}), "", victim)
        references |= _mentions(body, victim)
    return Call(method, template, url, params, body, names_resource,
                references or names_resource)  # fmt: skip


def _mentions(value: Any, victim: Victim) -> bool:
    return any(v in repr(value) for v in victim.ids.values())


def send(client: httpx.Client, call: Call) -> tuple[int, str | None]:
    """The status and error code (streams are not read: their status is all that counts)."""
    with client.stream(call.method.upper(), call.url, params=call.params, json=call.body,
                       timeout=60) as response:  # fmt: skip
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response.status_code, None
        body = response.read()
    try:
        parsed = json.loads(body)
    except ValueError:
        return response.status_code, None
    code = parsed.get("error") or parsed.get("code") if isinstance(parsed, dict) else None
    return response.status_code, code


def docs(server: Daemon, client: httpx.Client) -> dict[str, dict[str, Any]]:
    found = {}
    for prefix, path in SPECS.items():
        response = client.get(server.url + path)
        if response.status_code == 200:
            found[prefix] = response.json()
    assert "" in found
    return found


def walk(
    server: Daemon,
    attacker_key: str,
    victim: Victim,
    methods: tuple[str, ...] = METHODS,
    strict: bool = True,
) -> int:
    """Every operation naming a resource, with `victim`'s ids and the attacker's key.
    `strict`: the victim has one of every kind of resource, and every one is walked."""
    headers = {**bearer(attacker_key), "X-API-Key": attacker_key}
    fake = victim.fake()
    walked, problems = 0, []
    with httpx.Client(base_url=server.url, headers=headers) as client:
        for prefix, doc in docs(server, client).items():
            for call, decoy in zip(calls(doc, prefix, victim, strict),
                                   calls(doc, prefix, fake, strict), strict=True):  # fmt: skip
                if not call.references or call.method not in methods:
                    continue
                walked += 1
                real, nowhere = send(client, call), send(client, decoy)
                where = f"{call.method.upper()} {prefix}{call.path}"
                if call.names_resource and real[0] != 404:
                    problems.append(f"{where}: {real[0]} {real[1]} (want 404)")
                elif real != nowhere:
                    problems.append(f"{where}: {real} for the victim's ids, {nowhere} for none")
        assert not problems, "existence leaks:\n" + "\n".join(problems)
        for prefix, doc in docs(server, client).items():
            for template, operations in doc["paths"].items():
                op = operations.get("get")
                if op is None or "{" in template or _streams(op) or _needs_query(op):
                    continue
                text = client.get(prefix + template).text
                hidden = [v for k, v in victim.ids.items() if k not in victim.known]
                for secret in (*hidden, *victim.names):
                    assert secret not in text, f"GET {prefix}{template} shows {secret!r}"
    return walked


def _streams(op: dict[str, Any]) -> bool:
    return "text/event-stream" in op.get("responses", {}).get("200", {}).get("content", {})


def _needs_query(op: dict[str, Any]) -> bool:
    return any(p.get("required") and p["in"] == "query" for p in op.get("parameters", []))


# -- the victim's resources ---------------------------------------------------------------------


def populate(http: httpx.Client, tenant: str, key_id: str, ws_spec: dict[str, Any]) -> Victim:
    """One of everything, made with `http` (the victim's key)."""
    tag = secrets.token_hex(3)
    ws = http.post("/v1/workspaces", json={"name": f"victim-{tag}", **ws_spec}).json()
    other = http.post("/v1/workspaces", json={"name": f"peer-{tag}", **ws_spec}).json()
    ids = {"workspace": ws["id"], "tenant": tenant, "key": key_id}
    assert "id" in ws and "id" in other, (ws, other)
    http.put(f"/v1/workspaces/{ws['id']}/files", params={"path": "/srv/secret.txt"},
             content=b"victim-data")  # fmt: skip
    optional = {
        "volume": ("POST", "/v1/volumes", {"name": f"vol-{tag}", "size_mib": 16}),
        "webhook": ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/victim"}),
        "link": ("POST", "/v1/links", {"from": ws["id"], "to": other["id"], "port": 8080}),
        "template": ("POST", f"/v1/workspaces/{ws['id']}/snapshot", {"name": f"tpl-{tag}"}),
    }
    for kind, (method, path, body) in optional.items():
        response = http.request(method, path, json=body)
        assert response.status_code in (200, 201), (kind, response.text)
        ids[kind] = response.json()["id"]
    secret = f"victim_secret_{tag}"
    assert http.put(f"/v1/secrets/{secret}", json={"value": "s3cret"}).status_code in (200, 201)
    ids["secret"] = secret
    return Victim(ids, names=[ws["name"], other["name"], f"vol-{tag}", f"tpl-{tag}", secret])


def intact(http: httpx.Client, victim: Victim) -> None:
    ids = victim.ids
    ws = http.get(f"/v1/workspaces/{ids['workspace']}")
    assert ws.status_code == 200 and ws.json()["state"] == "running", ws.text
    data = http.get(f"/v1/workspaces/{ids['workspace']}/files", params={"path": "/srv/secret.txt"})
    assert data.content == b"victim-data"
    for kind, path in (("volume", "/v1/volumes/{}"), ("template", "/v1/templates/{}"),
                       ("link", "/v1/links/{}")):  # fmt: skip
        assert http.get(path.format(ids[kind])).status_code == 200, kind
    assert ids["webhook"] in http.get("/v1/webhooks").text
    assert ids["secret"] in http.get("/v1/secrets").text


def cleanup(http: httpx.Client, victim: Victim) -> None:
    for kind, path in (("link", "/v1/links/{}"), ("template", "/v1/templates/{}"),
                       ("webhook", "/v1/webhooks/{}")):  # fmt: skip
        http.delete(path.format(victim.ids[kind]))


@pytest.fixture
def victim(http: httpx.Client, tenants: MakeTenant) -> Iterator[tuple[Tenant, Victim]]:
    bob = tenants("bob")
    key_id = http.get(f"/v1/admin/tenants/{bob.name}/keys").json()["keys"][0]["id"]
    found = populate(bob.http, bob.name, key_id, {})
    yield bob, found
    cleanup(bob.http, found)


def test_every_endpoint_answers_404_for_another_tenants_resources(
    server: Daemon, tenants: MakeTenant, victim: tuple[Tenant, Victim]
) -> None:
    bob, found = victim
    alice = tenants("alice")
    alice.create("mine")  # the attacker has resources of its own too
    walked = walk(server, alice.key, found)
    print(f"walked {walked} operations naming another tenant's resources: all 404")
    assert walked >= 40, f"only {walked} operations walked"
    intact(bob.http, found)
    assert alice.http.get(f"/v1/workspaces/{found.ids['workspace']}").status_code == 404
    mine = alice.http.get("/v1/workspaces").json()["workspaces"]
    assert [w["name"] for w in mine] == ["mine"]


def test_walker_catches_a_leak(server: Daemon, victim: tuple[Tenant, Victim]) -> None:
    """The walker itself: with the victim's own key its resources are found, and it says so
    (reads only: the victim's resources stay)."""
    bob, found = victim
    with pytest.raises(AssertionError, match=r"GET /v1/workspaces/\{ref\}: 200"):
        walk(server, bob.key, found, methods=("get",))


def test_link_across_tenants_is_refused(
    tenants: MakeTenant, victim: tuple[Tenant, Victim]
) -> None:
    _, found = victim
    alice = tenants("alice")
    mine = alice.create("mine")
    out = alice.http.post("/v1/links", json={"from": mine["id"], "to": found.ids["workspace"],
                                              "port": 8080})  # fmt: skip
    assert out.status_code == 404, out.text
    at_create = alice.http.post("/v1/workspaces", json={
        "name": "linked", "links": [{"to": found.ids["workspace"], "port": 8080}]})
    nowhere = alice.http.post("/v1/workspaces", json={
        "name": "linked", "links": [{"to": "0123456789ab", "port": 8080}]})
    assert at_create.status_code == nowhere.status_code == 422
    assert re.sub(r"'[^']*'", "", at_create.json()["message"]) == re.sub(
        r"'[^']*'", "", nowhere.json()["message"])
