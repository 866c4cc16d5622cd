"""A workspace's disk usage: its writable layer, and its persistent disk when it has one.

The writable layer has no quota (the kernel here has no ext4/XFS project quotas), so only
its usage is known: the blocks its files hold, summed by a walk. The walk's cost grows with
the number of files, which is why the sampler spaces walks by what the last one cost.
A persistent disk is a filesystem of its own mounted inside the workspace: `statvfs` gives
its used and total size in microseconds.
"""

from __future__ import annotations

import os


def tree_usage(path: str) -> int | None:
    """Bytes allocated to the files under `path` (as `du` counts them); None if it is absent.

    Does not follow symlinks, does not cross into other filesystems, counts hard links once.
    """
    try:
        top = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    total = top.st_blocks * 512
    seen: set[tuple[int, int]] = set()
    stack = [path]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue  # removed meanwhile, or unreadable
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_dev != top.st_dev:
                    continue
                if st.st_nlink > 1 and not entry.is_dir(follow_symlinks=False):
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return total


def mounted_usage(root: str, mount_point: str) -> tuple[int, int] | None:
    """(used, size) in bytes of the filesystem mounted at `mount_point` under `root`.

    None when nothing is mounted there (the directory is on the same device as `root`, or
    does not exist): a workspace without a persistent disk.
    """
    target = root.rstrip("/") + mount_point
    try:
        if os.stat(target).st_dev == os.stat(root).st_dev:
            return None
        vfs = os.statvfs(target)
    except OSError:
        return None
    return (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize, vfs.f_blocks * vfs.f_frsize
