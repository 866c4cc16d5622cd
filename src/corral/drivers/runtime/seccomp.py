"""The default seccomp profile (OCI `linux.seccomp`).

Allow by default, deny what a workspace never needs and what widens the kernel's attack
surface: kernel modules, kexec, mounts, new namespaces (incl. user namespaces), bpf, perf,
keyrings, clock changes, ptrace of other processes, swap and reboot. `clone3` answers ENOSYS
so that libc falls back to `clone`, whose namespace flags seccomp can inspect.
"""

from __future__ import annotations

from typing import Any

EPERM = 1
ENOSYS = 38

DENIED_SYSCALLS = (
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "delete_module",
    "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "init_module", "iopl",
    "ioperm", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
    "mount", "mount_setattr", "move_mount", "name_to_handle_at", "nfsservctl",
    "open_by_handle_at", "open_tree", "perf_event_open", "pivot_root", "process_vm_readv",
    "process_vm_writev", "ptrace", "quotactl", "quotactl_fd", "reboot", "request_key",
    "setns", "settimeofday", "adjtimex", "swapoff", "swapon", "syslog", "umount",
    "umount2", "unshare", "userfaultfd", "uselib", "vhangup", "personality",
)  # fmt: skip

# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000, 0x00000080)  # fmt: skip

ARCHES = [
    "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"
]  # fmt: skip


def default_profile() -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        {"names": list(DENIED_SYSCALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    ]
    for flag in NAMESPACE_FLAGS:
        rules.append(
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": EPERM,
                "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
            }
        )
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES, "syscalls": rules}
