"""`agentmon remote-files`: the remote end of an ssh:// source, serving its files to the local agentmon.

It runs on the watched host, started by the local agentmon through ssh, and does nothing but
list, stat and read files: no parsing, no state beyond open descriptors. The local side
decides what to read and commits its cursors with the rows. The protocol is in
docs/remote.md; `agentmon/remote/server.sh` speaks the same one for hosts without agentmon.
"""

from __future__ import annotations

import os
import stat
import sys

from agentmon.ingest.boot import boot_id
from agentmon.remote.protocol import HELLO, LISTED_NAMES, MAX_READ


def _stat_fields(st: os.stat_result) -> bytes:
    return b"%d %d %d %d %d" % (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_nlink)


def _error(e: OSError) -> bytes:
    import errno

    name = errno.errorcode.get(e.errno or 0, "EIO")
    message = (e.strerror or str(e)).replace("\n", " ")
    return f"E {name} {message}\n".encode()


def _listing(root: bytes) -> list[bytes]:
    st = os.stat(root)
    if not stat.S_ISDIR(st.st_mode):
        return [b"F " + _stat_fields(st) + b" " + root + b"\n"]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(b".")]
        for name in filenames:
            if not LISTED_NAMES.search(name.decode("utf-8", "surrogateescape")):
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
            except OSError:
                continue  # gone between the walk and the stat
            if stat.S_ISREG(st.st_mode) and b"\n" not in path:
                out.append(b"F " + _stat_fields(st) + b" " + path + b"\n")
    return out


def serve(stdin=None, stdout=None) -> None:
    """Answer requests until stdin closes (the ssh connection went away)."""
    rin = stdin or sys.stdin.buffer
    out = stdout or sys.stdout.buffer
    handles: dict[int, int] = {}
    next_handle = 1
    out.write(HELLO % (b"agentmon", (boot_id() or "-").encode()))
    out.flush()
    for line in rin:
        verb, _, rest = line.rstrip(b"\n").partition(b" ")
        try:
            if verb == b"LIST":
                out.writelines(_listing(rest))
                out.write(b"END\n")
            elif verb == b"STAT":
                out.write(b"S " + _stat_fields(os.stat(rest)) + b"\n")
            elif verb == b"OPEN":
                fd = os.open(rest, os.O_RDONLY)
                handles[next_handle] = fd
                out.write(b"H %d " % next_handle + _stat_fields(os.fstat(fd)) + b"\n")
                next_handle += 1
            elif verb == b"FSTAT":
                out.write(b"S " + _stat_fields(os.fstat(handles[int(rest)])) + b"\n")
            elif verb == b"READ":
                handle, offset, n = (int(x) for x in rest.split())
                data = os.pread(handles[handle], min(n, MAX_READ), offset)
                out.write(b"D %d\n" % len(data))
                out.write(data)
            elif verb == b"CLOSE":
                if (closing := handles.pop(int(rest), None)) is not None:
                    os.close(closing)
                out.write(b"OK\n")
            else:
                out.write(b"E EINVAL unknown request " + verb[:40] + b"\n")
        except OSError as e:
            out.write(_error(e))
        except (KeyError, ValueError):
            out.write(b"E EBADF bad handle or numbers in " + verb[:40] + b"\n")
        out.flush()
