"""Pure tenancy logic: quota checks, child policies, owner scopes, runsc's process table."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from corral.drivers.runtime.isolation import level_of
from corral.drivers.runtime.runsc import descendants, parse_ps
from corral.engine.spec import Lifecycle, Limits, NetworkSpec, StorageSpec, WorkspaceRecord
from corral.engine.states import State
from corral.errors import Forbidden, InvalidSpec, NotFound, QuotaExceeded
from corral.tenancy import children, quotas, scopes
from corral.tenancy.children import ChildPolicy
from corral.tenancy.quotas import Quotas, Usage


def ws(**fields: object) -> WorkspaceRecord:
    now = datetime.now(UTC)
    record = WorkspaceRecord(id="w1", owner="acme", name="w", image="host", state=State.RUNNING,
                             command=None, env={}, limits=Limits(), restart="never", labels={},
                             created_at=now, updated_at=now, runtime="crun")  # fmt: skip
    return dataclasses.replace(record, **fields)  # type: ignore[arg-type]


# -- quotas ---------------------------------------------------------------------------------


def test_usage_sums_workspaces_and_volumes() -> None:
    records = [
        ws(limits=Limits(cpu=0.5, memory_mib=128), ttl_seconds=60),
        ws(limits=Limits(cpu=1.0, memory_mib=256), storage=StorageSpec(disk_mib=100,
                                                                       rootfs_mib=20)),
    ]
    assert Usage.of(records, volumes_mib=50) == Usage(
        workspaces=2, cpu=1.5, memory_mib=384, disk_mib=170, temporary=1
    )


@pytest.mark.parametrize(
    ("limits", "usage", "new", "quota"),
    [
        (Quotas(max_workspaces=2), Usage(workspaces=2), ws(), "max_workspaces"),
        (Quotas(max_cpu=1.0), Usage(cpu=0.75), ws(limits=Limits(cpu=0.5)), "max_cpu"),
        (Quotas(max_memory_mib=256), Usage(memory_mib=200), ws(limits=Limits(memory_mib=64)),
         "max_memory_mib"),
        (Quotas(max_disk_mib=100), Usage(disk_mib=90), ws(storage=StorageSpec(disk_mib=16)),
         "max_disk_mib"),
        (Quotas(max_disk_mib=100), Usage(disk_mib=90), ws(storage=StorageSpec(rootfs_mib=16)),
         "max_disk_mib"),  # a capped writable layer is disk space set aside too
        (Quotas(max_temporary=1), Usage(temporary=1), ws(ttl_seconds=60), "max_temporary"),
    ],
)  # fmt: skip
def test_over_a_quota_names_it(limits: Quotas, usage: Usage, new: WorkspaceRecord,
                               quota: str) -> None:  # fmt: skip
    with pytest.raises(QuotaExceeded) as refused:
        quotas.check_workspace("acme", limits, usage, new)
    assert quota in refused.value.message and "acme" in refused.value.message
    assert refused.value.status_code == 429 and refused.value.code == "quota_exceeded"


def test_exactly_at_a_quota_is_allowed() -> None:
    limits = Quotas(max_workspaces=3, max_cpu=1.0, max_temporary=1)
    quotas.check_workspace("acme", limits, Usage(workspaces=2, cpu=0.5), ws(limits=Limits(cpu=0.5),
                                                                  ttl_seconds=5))  # fmt: skip
    # A permanent workspace does not count against the temporary sandboxes.
    quotas.check_workspace("acme", Quotas(max_temporary=0), Usage(), ws())


def test_a_volume_counts_against_the_disk_quota() -> None:
    quotas.check("acme", Quotas(max_disk_mib=100), Usage(disk_mib=50), Usage(disk_mib=50))
    with pytest.raises(QuotaExceeded, match="max_disk_mib"):
        quotas.check("acme", Quotas(max_disk_mib=100), Usage(disk_mib=50), Usage(disk_mib=51))
    # A volume is not a workspace: a full max_workspaces does not stop it.
    quotas.check("acme", Quotas(max_workspaces=0), Usage(workspaces=3), Usage(disk_mib=1))


def test_a_cpu_or_memory_quota_needs_limits() -> None:
    with pytest.raises(InvalidSpec, match="cpu limit"):
        quotas.check_workspace("acme", Quotas(max_cpu=4), Usage(), ws())
    with pytest.raises(InvalidSpec, match="memory limit"):
        quotas.check_workspace("acme", Quotas(max_memory_mib=1024), Usage(),
                               ws(limits=Limits(cpu=1)))  # fmt: skip


def test_quotas_round_trip_and_ignore_unknown_fields() -> None:
    limits = Quotas(max_workspaces=3, max_cpu=1.5)
    assert Quotas.from_json({**limits.to_json(), "from_the_future": 1}) == limits
    assert Quotas.from_json(None) == Quotas()
    assert Usage(cpu=1).within(Usage(cpu=1, workspaces=1))
    assert not Usage(cpu=2).within(Usage(cpu=1))


# -- child policies ------------------------------------------------------------------------


BOUNDED = {"limits": Limits(cpu=1.0, memory_mib=1024, pids=512),
           "storage": StorageSpec(rootfs_mib=1024)}  # what with_defaults gives a bare child


def child(**fields: object) -> WorkspaceRecord:
    return ws(**{"owner": "acme/p1", "ttl_seconds": 60, **BOUNDED, **fields})


def test_a_compliant_child_passes() -> None:
    children.check(ChildPolicy(), child(), siblings=4)


@pytest.mark.parametrize(
    ("policy", "record", "siblings", "rule"),
    [
        (ChildPolicy(max_children=2), child(), 2, "max_children"),
        (ChildPolicy(max_ttl_seconds=60), child(ttl_seconds=61), 0, "max_ttl_seconds"),
        (ChildPolicy(max_ttl_seconds=60), ws(owner="acme/p1"), 0, "max_ttl_seconds"),
        (ChildPolicy(), child(lifecycle=Lifecycle(on_expire="pause")), 0, "max_ttl_seconds"),
        (ChildPolicy(), child(network=NetworkSpec(internet=True)), 0, "internet"),
        (ChildPolicy(), child(network=NetworkSpec(ports=(80,))), 0, "internet"),
        (ChildPolicy(internet=True), child(network=NetworkSpec(api_access=True)), 0, "api_access"),
        (ChildPolicy(isolation="gvisor"), child(runtime="crun"), 0, "isolation"),
        (ChildPolicy(), child(limits=Limits(cpu=1.0, pids=512)), 0, "max_memory_mib"),
        (ChildPolicy(), child(limits=Limits(cpu=1.5, memory_mib=64, pids=8)), 0, "max_cpu"),
        (ChildPolicy(max_pids=8), child(), 0, "max_pids"),
        (ChildPolicy(), child(storage=StorageSpec()), 0, "max_rootfs_mib"),
        (ChildPolicy(), child(storage=StorageSpec(rootfs_mib=16, disk_mib=2048)), 0,
         "max_disk_mib"),
    ],
)  # fmt: skip
def test_each_rule_refuses_with_its_name(
    policy: ChildPolicy, record: WorkspaceRecord, siblings: int, rule: str
) -> None:
    with pytest.raises(Forbidden, match=rule):
        children.check(policy, record, siblings)


def test_a_bare_child_gets_the_ceilings_as_limits() -> None:
    policy = ChildPolicy(max_memory_mib=64, max_cpu=None, max_pids=32, max_rootfs_mib=16)
    limits, storage = children.with_defaults(policy, Limits(memory_mib=32), StorageSpec())
    assert limits == Limits(cpu=None, memory_mib=32, pids=32) and storage.rootfs_mib == 16
    children.check(policy, child(limits=limits, storage=storage), 0)
    unbounded = ChildPolicy(max_memory_mib=None, max_cpu=None, max_pids=None,
                            max_rootfs_mib=None, max_disk_mib=None)  # fmt: skip
    assert children.with_defaults(unbounded, Limits(), StorageSpec()) == (Limits(), StorageSpec())


def test_policy_rules_that_allow() -> None:
    children.check(ChildPolicy(max_ttl_seconds=None), child(ttl_seconds=None), 0)
    children.check(ChildPolicy(internet=True), child(network=NetworkSpec(internet=True)), 0)
    children.check(ChildPolicy(isolation="gvisor"), child(runtime="runsc"), 0)


def test_policy_is_kept_in_the_record() -> None:
    assert children.record_extra(None, api_access=False) == {}
    extra = children.record_extra({"max_children": 1}, api_access=True)
    assert children.policy_of(ws(extra=extra)) == ChildPolicy(max_children=1)
    assert children.policy_of(ws(extra=children.record_extra(None, True))) == ChildPolicy()


# -- owners ---------------------------------------------------------------------------------


def test_scopes() -> None:
    assert scopes.tenant_of("acme") == "acme" and scopes.parent_of("acme") is None
    assert scopes.children_of("acme", "p1") == "acme/p1"
    assert scopes.children_of("acme/p1", "c1") == "acme/c1"  # never nested
    assert scopes.tenant_of("acme/p1") == "acme" and scopes.parent_of("acme/p1") == "p1"
    assert scopes.belongs_to("acme/p1", "acme") and not scopes.belongs_to("acme2", "acme")
    assert scopes.TENANT_NAME.match("acme-1") and not scopes.TENANT_NAME.match("a/b")


def test_children_link_only_to_their_parent() -> None:
    parent = ws(id="p1", name="agent")
    records = {("p1", "acme"): parent, ("s1", "acme/p1"): ws(id="s1", owner="acme/p1")}

    def get(ref: str, owner: str) -> WorkspaceRecord:
        try:
            return records[(ref, owner)]
        except KeyError:
            raise NotFound(ref) from None

    assert scopes.link_target(get, "acme/p1", "p1") is parent
    assert scopes.link_target(get, "acme/p1", "agent") is parent
    with pytest.raises(Forbidden):
        scopes.link_target(get, "acme/p1", "s1")  # a sibling
    assert scopes.link_target(get, "acme/p1", "p1").id == "p1"
    with pytest.raises(NotFound):
        scopes.link_target(get, "acme", "s1")  # not the tenant's own


# -- gVisor ---------------------------------------------------------------------------------

PS = """UID       PID       PPID      C         TTY       STIME     TIME      CMD
0         1         0         0         ?         03:23     0s        init
0         8         0         4         ?         03:23     0s        sh
0         9         8         10        ?         03:23     30ms      sh
0         10        8         2         ?         03:23     0s        sleep
0         11        9         0         ?         03:23     0s        sleep
0         12        0         0         ?         03:23     0s        ps"""


def test_runsc_process_tree() -> None:
    parents = parse_ps(PS)
    assert parents[9] == 8 and parents[1] == 0
    assert sorted(descendants(parents, 8)) == [8, 9, 10, 11]
    assert descendants(parents, 12) == [12]
    assert parse_ps("") == {}


def test_isolation_level_of_a_runtime() -> None:
    assert level_of("runsc") == "gvisor"
    assert level_of("crun") == level_of("runc") == level_of("") == "container"
