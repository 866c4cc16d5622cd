from pathlib import Path

from corral.drivers.runtime.base import ContainerSpec, Mount
from corral.drivers.runtime.ocispec import INIT_PATH, build_config
from corral.drivers.runtime.seccomp import DENIED_SYSCALLS, default_profile


def spec(**overrides: object) -> ContainerSpec:
    values: dict = dict(
        id="abc", rootfs=Path("/r"), command=None, env={"A": "1"}, hostname="h",
        netns="/run/netns/abc", log_path=Path("/l"),
    )  # fmt: skip
    values.update(overrides)
    return ContainerSpec(**values)


def test_idle_workspace_runs_init_in_pause_mode() -> None:
    config = build_config(spec(), "/corral/abc", "/usr/bin/catatonit")
    assert config["process"]["args"] == [INIT_PATH, "-P"]
    init_mount = next(m for m in config["mounts"] if m["destination"] == INIT_PATH)
    assert init_mount["source"] == "/usr/bin/catatonit" and "ro" in init_mount["options"]


def test_main_command_runs_under_the_reaping_init() -> None:
    config = build_config(spec(command=["python3", "app.py"]), "/c", "/i")
    assert config["process"]["args"] == [INIT_PATH, "--", "python3", "app.py"]


def test_limits_become_cgroup_resources() -> None:
    config = build_config(spec(cpu=0.5, memory_mib=128, pids=64), "/corral/abc", "/i")
    resources = config["linux"]["resources"]
    assert resources["cpu"] == {"quota": 50_000, "period": 100_000}
    assert resources["memory"] == {"limit": 128 << 20, "swap": 128 << 20}
    assert resources["pids"] == {"limit": 64}
    assert config["linux"]["cgroupsPath"] == "/corral/abc"


def test_no_limits_no_resource_entries() -> None:
    resources = build_config(spec(), "/c", "/i")["linux"]["resources"]
    assert set(resources) == {"devices"}


def test_hardening() -> None:
    config = build_config(spec(), "/c", "/i")
    process = config["process"]
    assert process["noNewPrivileges"] is True
    assert "CAP_SYS_ADMIN" not in process["capabilities"]["bounding"]
    assert "CAP_NET_RAW" not in process["capabilities"]["bounding"]
    kinds = {ns["type"] for ns in config["linux"]["namespaces"]}
    assert kinds == {"pid", "ipc", "uts", "mount", "cgroup", "network"}
    netns = next(ns for ns in config["linux"]["namespaces"] if ns["type"] == "network")
    assert netns["path"] == "/run/netns/abc"
    assert "/proc/kcore" in config["linux"]["maskedPaths"]
    assert "/proc/sys" in config["linux"]["readonlyPaths"]


def test_extra_mounts_are_read_only_binds_by_default() -> None:
    config = build_config(spec(mounts=(Mount("/usr", "/usr"),)), "/c", "/i")
    usr = next(m for m in config["mounts"] if m["destination"] == "/usr")
    assert usr["type"] == "bind" and "ro" in usr["options"]


def test_env_merges_over_defaults() -> None:
    env = build_config(spec(env={"PATH": "/x", "B": "2"}), "/c", "/i")["process"]["env"]
    assert "PATH=/x" in env and "B=2" in env and "HOSTNAME=h" in env


def test_seccomp_denies_namespace_and_kernel_calls() -> None:
    profile = default_profile()
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    denied = {name for rule in profile["syscalls"] for name in rule["names"]}
    for syscall in ("mount", "unshare", "setns", "bpf", "init_module", "kexec_load", "clone3"):
        assert syscall in denied
    assert "mount" in DENIED_SYSCALLS
    clone_rules = [r for r in profile["syscalls"] if r["names"] == ["clone"]]
    newuser = 0x10000000
    assert any(r["args"][0]["value"] == newuser for r in clone_rules)
