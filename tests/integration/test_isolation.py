"""Isolation attacked from inside a workspace: processes, files, privileges, network.

Every check runs real code in a real workspace and asserts on what it could reach. Where an
attack is expected to fail, a positive control shows the probe itself works (the same
connection succeeds from the right place, the same file is readable where it should be).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.network_probes import host_listener

pytestmark = pytest.mark.integration

NAMESPACES = ("pid", "net", "mnt", "ipc", "uts", "cgroup")

# Capabilities a workspace must never hold (bit numbers from linux/capability.h).
FORBIDDEN_CAPS = {
    "CAP_DAC_READ_SEARCH": 2, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_MKNOD": 27, "CAP_SYSLOG": 34,
    "CAP_PERFMON": 38, "CAP_BPF": 39,
}  # fmt: skip


def run(http: httpx.Client, wid: str, command: str | list[str], timeout: float = 30) -> dict:
    response = http.post(
        f"/v1/workspaces/{wid}/exec", json={"command": command, "timeout": timeout}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def py(http: httpx.Client, wid: str, code: str, *args: str) -> dict:
    return run(http, wid, ["python3", "-c", code, *args])


def ok(http: httpx.Client, wid: str, command: str | list[str]) -> str:
    result = run(http, wid, command)
    assert result["exit_code"] == 0, result
    return str(result["stdout"])


@pytest.fixture
def other(http: httpx.Client, unique_name: str) -> Iterator[dict]:
    """A second running workspace, to attack the first from."""
    response = http.post("/v1/workspaces", json={"name": f"{unique_name}-b"})
    assert response.status_code == 201, response.text
    ws = response.json()
    yield ws
    http.delete(f"/v1/workspaces/{ws['id']}")


# -- processes ------------------------------------------------------------------------------


def test_ps_shows_only_the_workspaces_own_processes(http: httpx.Client, workspace: dict) -> None:
    tag = f"{secrets.randbelow(10**6)}.{secrets.randbelow(10**3)}"
    host_sleeper = subprocess.Popen(["sleep", tag])
    try:
        table = ok(http, workspace["id"], "ps -eo pid=,args=")
        proc_pids = ok(http, workspace["id"], "ls /proc | grep -E '^[0-9]+$'").split()
    finally:
        host_sleeper.kill()
        host_sleeper.wait()
    rows = [line.split(None, 1) for line in table.strip().splitlines()]
    assert rows[0] == ["1", "/.corral/init -P"], rows
    assert tag not in table, "a host process is visible inside the workspace"
    assert len(rows) <= 3, rows  # init, the shell, ps
    assert all(int(pid) < 100 for pid in proc_pids), proc_pids


def test_workspace_runs_in_its_own_namespaces(http: httpx.Client, workspace: dict) -> None:
    loop = "for ns in " + " ".join(NAMESPACES) + "; do readlink /proc/{}/ns/$ns; done"
    inside = ok(http, workspace["id"], loop.format("self"))
    init = ok(http, workspace["id"], loop.format("1"))
    host = [os.readlink(f"/proc/self/ns/{ns}") for ns in NAMESPACES]
    for ns, mine, theirs in zip(NAMESPACES, inside.split(), host, strict=True):
        assert mine != theirs, f"the workspace shares the host's {ns} namespace"
    assert inside.split() == init.split(), "exec'd processes must join the init's namespaces"
    assert ok(http, workspace["id"], "hostname").strip() == workspace["name"]


def test_process_in_one_workspace_is_invisible_and_unkillable_from_another(
    http: httpx.Client, workspace: dict, other: dict
) -> None:
    a, b = workspace["id"], other["id"]
    tag = f"7{secrets.randbelow(10**5)}.25"
    ok(http, a, f"nohup sleep {tag} >/dev/null 2>&1 &")
    assert tag in ok(http, a, "ps -eo args"), "control: A sees its own process"
    assert tag not in ok(http, b, "ps -eo args")
    assert tag not in ok(http, b, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; true")
    killed = run(http, b, f"pkill -f 'slee[p] {tag}'")
    assert killed["exit_code"] == 1, "pkill in B matched something"
    assert tag in ok(http, a, "ps -eo args"), "A's process died"


# -- host files --------------------------------------------------------------------------------


def test_host_paths_are_not_visible(http: httpx.Client, workspace: dict, server: Daemon) -> None:
    wid = workspace["id"]
    host_root_entries = set(os.listdir("/root"))
    inside_root = set(ok(http, wid, "ls -A /root").split())
    assert not inside_root & host_root_entries, inside_root & host_root_entries
    shadow = run(http, wid, "cat /etc/shadow")
    host_shadow = Path("/etc/shadow").read_text() if Path("/etc/shadow").exists() else ""
    assert shadow["exit_code"] != 0 or shadow["stdout"] != host_shadow
    for path in (server.state_dir, server.state_dir / "admin.key", server.run_dir,
                 Path("/var/lib/corral"), server.state_dir / "corral.db", Path("/work"),
                 server.log_path):  # fmt: skip
        probe = run(http, wid, f"ls -la {path}; cat {path}")
        assert probe["exit_code"] != 0, f"{path} is visible inside: {probe['stdout'][:200]}"
        assert server.api_key not in probe["stdout"]
    listing = ok(http, wid, "ls -a /")
    assert ".corral" in listing and "work" not in listing.split()


def test_chroot_trick_does_not_escape_the_workspace_root(
    http: httpx.Client, workspace: dict
) -> None:
    """CAP_SYS_CHROOT is kept: the classic chroot-and-climb must still end in the workspace."""
    code = (
        "import os\n"
        "os.makedirs('/tmp/jail', exist_ok=True)\n"
        "fd = os.open('/', os.O_RDONLY)\n"
        "os.chroot('/tmp/jail')\n"
        "os.fchdir(fd)\n"
        "for _ in range(64): os.chdir('..')\n"
        "os.chroot('.')\n"
        "print(sorted(os.listdir('/')))\n"
    )
    result = py(http, workspace["id"], code)
    assert result["exit_code"] == 0, result
    assert "'.corral'" in result["stdout"] and "'work'" not in result["stdout"]


# -- privileges -----------------------------------------------------------------------------


def _status(http: httpx.Client, wid: str, pid: str) -> dict[str, str]:
    text = ok(http, wid, f"cat /proc/{pid}/status")
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_init_has_no_new_privs_and_seccomp(http: httpx.Client, workspace: dict) -> None:
    status = _status(http, workspace["id"], "1")
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"


def test_exec_processes_have_no_new_privs(http: httpx.Client, workspace: dict) -> None:
    """Everything an agent runs arrives by exec: it needs no_new_privs as much as the init."""
    status = _status(http, workspace["id"], "self")
    assert status["Seccomp"].strip() == "2", "exec'd process runs without the seccomp filter"
    assert status["NoNewPrivs"].strip() == "1", (
        "exec'd processes lack no_new_privs (grep NoNewPrivs /proc/self/status = "
        f"{status['NoNewPrivs'].strip()})"
    )


def test_dangerous_capabilities_are_dropped(http: httpx.Client, workspace: dict) -> None:
    for pid in ("1", "self"):
        status = _status(http, workspace["id"], pid)
        for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"):
            held = int(status[field], 16)
            present = [name for name, bit in FORBIDDEN_CAPS.items() if held >> bit & 1]
            assert not present, f"{pid} {field} holds {present}"


def test_cannot_mount(http: httpx.Client, workspace: dict) -> None:
    wid = workspace["id"]
    for command in ("mount -t tmpfs none /mnt", "mount --bind / /mnt", "mount -t proc proc /mnt",
                    "mount -o remount,rw /sys", "mount -o remount,rw /usr"):  # fmt: skip
        assert run(http, wid, command)["exit_code"] != 0, command
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "r = libc.mount(b'none', b'/mnt', b'tmpfs', 0, None)\n"
        "print(r, ctypes.get_errno())\n"
    )
    assert py(http, wid, code)["stdout"].split() == ["-1", "1"]  # EPERM
    assert "/mnt" not in ok(http, wid, "cat /proc/self/mounts")


@pytest.mark.parametrize(
    "command",
    [
        "unshare -Urn true",
        "unshare -n true",
        "unshare -U true",
        "unshare -m true",
        "unshare -p -f true",
        "unshare -i true",
        "unshare -u true",
        "unshare -C true",
        "nsenter -t 1 -n true",
    ],  # fmt: skip
)
def test_cannot_create_or_join_namespaces(
    http: httpx.Client, workspace: dict, command: str
) -> None:
    result = run(http, workspace["id"], command)
    assert result["exit_code"] != 0, f"{command!r} succeeded inside a workspace"


def test_cannot_create_user_namespace_via_clone(http: httpx.Client, workspace: dict) -> None:
    code = (
        "import ctypes, errno\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000\n"
        "for flags in (CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWUSER | CLONE_NEWNET):\n"
        "    r = libc.unshare(flags)\n"
        "    print(r, ctypes.get_errno())\n"
        "# clone3 is refused outright (ENOSYS), so libc falls back to filtered clone\n"
        "libc.syscall.restype = ctypes.c_long\n"
        "print(libc.syscall(435, None, 0), ctypes.get_errno())\n"
    )
    lines = py(http, workspace["id"], code)["stdout"].splitlines()
    assert lines[:3] == ["-1 1"] * 3, lines
    assert lines[3].startswith("-1 "), lines


def test_no_raw_or_packet_sockets(http: httpx.Client, workspace: dict) -> None:
    code = (
        "import socket\n"
        "for fam, typ, proto in ((socket.AF_INET, socket.SOCK_RAW, 1),\n"
        "                        (socket.AF_INET6, socket.SOCK_RAW, 58),\n"
        "                        (socket.AF_PACKET, socket.SOCK_RAW, 0),\n"
        "                        (socket.AF_INET, 10, 0x0300)):  # SOCK_PACKET, ETH_P_ALL\n"
        "    try:\n"
        "        socket.socket(fam, typ, proto).close(); print('opened')\n"
        "    except OSError as e:\n"
        "        print('denied', e.errno)\n"
        "socket.socket(socket.AF_INET, socket.SOCK_STREAM).close(); print('tcp ok')\n"
    )
    lines = py(http, workspace["id"], code)["stdout"].splitlines()
    assert lines[-1] == "tcp ok", lines
    assert all(line.startswith("denied") for line in lines[:-1]), lines


def test_cannot_mknod_devices(http: httpx.Client, workspace: dict) -> None:
    wid = workspace["id"]
    for command in ("mknod /tmp/mem c 1 1", "mknod /dev/sda-probe b 8 0",
                    "mknod /tmp/kmsg c 1 11"):  # fmt: skip
        assert run(http, wid, command)["exit_code"] != 0, command
    assert (
        run(http, wid, "test -e /dev/mem || test -e /dev/kmsg || test -e /dev/vda")["exit_code"]
        != 0
    )


def test_cannot_load_kernel_modules(http: httpx.Client, workspace: dict) -> None:
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.syscall.restype = ctypes.c_long\n"
        "# finit_module(-1), init_module(NULL), delete_module('corral_probe')\n"
        "for args in ((313, -1, b'', 0), (175, None, 0, b''), (176, b'corral_probe', 0)):\n"
        "    r = libc.syscall(*args); print(r, ctypes.get_errno())\n"
    )
    lines = py(http, workspace["id"], code)["stdout"].splitlines()
    assert lines == ["-1 1"] * 3, lines  # EPERM, not EBADF/EFAULT/ENOENT


def test_kernel_interfaces_are_read_only_or_masked(http: httpx.Client, workspace: dict) -> None:
    wid = workspace["id"]
    host_hostname = Path("/proc/sys/kernel/hostname").read_text()
    for command in ("echo 1 > /proc/sys/vm/drop_caches", "echo pwned > /proc/sys/kernel/hostname",
                    "echo 1 > /proc/sys/kernel/sysrq", "echo b > /proc/sysrq-trigger",
                    "touch /sys/corral-probe", "echo 1 > /sys/kernel/mm/ksm/run",
                    "echo max > /sys/fs/cgroup/pids/pids.max",
                    "echo -1 > /sys/fs/cgroup/memory/memory.limit_in_bytes"):  # fmt: skip
        assert run(http, wid, command)["exit_code"] != 0, command
    assert Path("/proc/sys/kernel/hostname").read_text() == host_hostname
    # Masked: nothing readable (an empty bind or no file at all).
    for path in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"):
        leaked = run(http, wid, f"head -c 64 {path} 2>/dev/null | wc -c")["stdout"].strip()
        assert leaked == "0", f"{path} is readable inside the workspace"
    assert "ro" in ok(http, wid, "awk '$2==\"/sys\" {print $4}' /proc/self/mounts").split(",")


def test_cannot_ptrace_or_read_kernel_log(http: httpx.Client, workspace: dict) -> None:
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.ptrace.restype = ctypes.c_long\n"
        "print(libc.ptrace(16, 1, None, None), ctypes.get_errno())  # PTRACE_ATTACH to init\n"
        "buf = ctypes.create_string_buffer(256)\n"
        "print(libc.klogctl(3, buf, 256), ctypes.get_errno())  # SYSLOG_ACTION_READ_ALL\n"
    )
    lines = py(http, workspace["id"], code)["stdout"].splitlines()
    assert lines == ["-1 1", "-1 1"], lines
    assert run(http, workspace["id"], "dmesg")["exit_code"] != 0


# -- network ------------------------------------------------------------------------------------


def test_only_loopback_and_the_private_link_exist(http: httpx.Client, workspace: dict) -> None:
    wid = workspace["id"]
    links = ok(http, wid, "ip -o link show").strip().splitlines()
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in links)
    assert names == ["eth0", "lo"], links
    devices = ok(http, wid, "tail -n +3 /proc/net/dev").strip().splitlines()
    assert sorted(d.split(":")[0].strip() for d in devices) == ["eth0", "lo"], devices
    addresses = ok(http, wid, "ip -o -4 addr show dev eth0").split()
    assert f"{workspace['ip']}/32" in addresses, addresses  # its own address, nothing wider
    assert not ok(http, wid, "ip -o -6 addr show dev eth0").strip()  # no IPv6 at all
    routes = ok(http, wid, "ip route show").strip().splitlines()
    assert all(" dev eth0 " in f"{route} " for route in routes), routes  # via the hub only


_SERVER = """
import socket, sys, threading, time
token, port = sys.argv[1], int(sys.argv[2])
def serve(sock):
    sock.listen(8)
    while True:
        conn, _ = sock.accept()
        conn.sendall(token.encode())
        conn.close()
unix = socket.socket(socket.AF_UNIX)
unix.bind('\\0corral-' + token)
tcp = socket.socket()
tcp.bind(('127.0.0.1', port))
for sock in (unix, tcp):
    threading.Thread(target=serve, args=(sock,), daemon=True).start()
open('/tmp/ready', 'w').close()
time.sleep(30)
"""

_CLIENT = """
import socket, sys
token, port = sys.argv[1], int(sys.argv[2])
for name, family, address in (('abstract', socket.AF_UNIX, '\\0corral-' + token),
                              ('tcp', socket.AF_INET, ('127.0.0.1', port))):
    sock = socket.socket(family)
    sock.settimeout(3)
    try:
        sock.connect(address)
        print(name, sock.recv(100).decode())
    except OSError as exc:
        print(name, 'refused', type(exc).__name__)
"""


def _connect_all(http: httpx.Client, wid: str, token: str, port: int) -> dict[str, str]:
    lines = py(http, wid, _CLIENT, token, str(port))["stdout"].splitlines()
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in lines}


def test_sockets_of_one_workspace_are_unreachable_from_another(
    http: httpx.Client, workspace: dict, other: dict
) -> None:
    a, b = workspace["id"], other["id"]
    token, port = secrets.token_hex(8), 8000 + secrets.randbelow(1000)
    run(http, a, ["sh", "-c", 'nohup python3 -c "$0" "$1" "$2" >/dev/null 2>&1 &',
                  _SERVER, token, str(port)])  # fmt: skip
    ok(http, a, "for i in $(seq 100); do test -e /tmp/ready && exit 0; sleep 0.05; done; exit 1")
    assert _connect_all(http, a, token, port) == {"abstract": token, "tcp": token}, "control"
    from_b = _connect_all(http, b, token, port)
    assert from_b["abstract"].startswith("refused"), from_b
    assert from_b["tcp"].startswith("refused"), from_b


def test_host_loopback_is_unreachable_from_a_workspace(
    http: httpx.Client, workspace: dict, server: Daemon
) -> None:
    with host_listener("127.0.0.1") as (port, accepted):
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # control: the listener works
        probe = (
            "import socket, sys\n"
            "for port in map(int, sys.argv[1:]):\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            "    print(s.connect_ex(('127.0.0.1', port)))\n"
        )
        codes = py(http, workspace["id"], probe, str(port), str(server.port))["stdout"].split()
    assert len(codes) == 2 and all(code != "0" for code in codes), codes
    assert len(accepted) == 1, f"the host listener accepted workspace connections: {accepted}"


def test_ipc_objects_are_private(http: httpx.Client, workspace: dict, other: dict) -> None:
    a, b = workspace["id"], other["id"]
    made = ok(http, a, "ipcmk -M 4096")
    shmid = made.strip().split()[-1]
    assert shmid in ok(http, a, "ipcs -m"), "control: A sees its own segment"
    assert shmid not in ok(http, b, "ipcs -m").split()
    ok(http, a, "touch /dev/mqueue/corral-probe")
    assert run(http, b, "test -e /dev/mqueue/corral-probe")["exit_code"] != 0


def test_files_of_one_workspace_are_invisible_to_another(
    http: httpx.Client, workspace: dict, other: dict
) -> None:
    a, b = workspace["id"], other["id"]
    token = secrets.token_hex(12)
    ok(http, a, f"echo {token} > /tmp/secret-{token} && echo {token} > /dev/shm/s-{token}")
    assert token in ok(http, a, f"cat /tmp/secret-{token}"), "control"
    for command in (f"cat /tmp/secret-{token}", f"cat /dev/shm/s-{token}",
                    f"grep -rs {token} /tmp /dev/shm /var /root /srv"):  # fmt: skip
        result = run(http, b, command)
        assert result["exit_code"] != 0 and token not in result["stdout"], command
    # Nor through the other workspace's file API.
    read = http.get(f"/v1/workspaces/{b}/files", params={"path": f"/tmp/secret-{token}"})
    assert read.status_code == 404
