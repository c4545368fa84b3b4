"""Which boot of which machine this is: two sources show the same file only if they read it on the
same boot of the same kernel, with the same device and inode.

A host is known by the name a source gives it (`ssh://web-1/…` and `ssh://10.0.0.5/…` are two
sources), so one machine reached by two names, or a directory read both locally and over
ssh://localhost, would count its files twice. Linux's boot id is random at every boot and shared
by everything on one kernel (containers too: a directory bind-mounted into two is the same device
and inode, an image's own files are not), so (boot id, device, inode) names one file exactly.
It changes at a reboot: it only ever tells two sources' files apart, it never keys what is stored.
"""

from __future__ import annotations

BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


def boot_id() -> str | None:
    """This machine's boot id; None where the system gives none (not Linux)."""
    try:
        with open(BOOT_ID_FILE) as f:
            return f.read().strip() or None
    except OSError:
        return None
