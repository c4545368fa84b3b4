"""A throwaway OpenSSH server on loopback, for the tests and the benchmark of ssh:// sources.

It runs the system's `sshd` on a free port with a host key and an authorized key made in a
temporary directory, and writes an ssh client config naming it; AGENTMON_SSH_COMMAND set to
`ssh -F <that config>` points agentmon at it without touching ~/.ssh.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
ALIAS = "agentmon-test"  # the Host of the client config


def unavailable() -> str | None:
    """Why a loopback sshd cannot run here, or None."""
    for tool in (SSHD, shutil.which("ssh"), shutil.which("ssh-keygen")):
        if not tool or not os.path.exists(tool):
            return "OpenSSH (sshd, ssh, ssh-keygen) is not installed: apt-get install openssh-server openssh-client"
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        try:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        except OSError as e:
            return f"cannot create /run/sshd for sshd: {e}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackSSHD:
    def __init__(self, workdir: Path, authorize: bool = True):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = getpass.getuser()
        self.key = self.dir / "client_key"
        self.config = self.dir / "ssh_config"
        self.proc: subprocess.Popen | None = None
        self.authorize = authorize
        self._setup()

    def _setup(self) -> None:
        d = self.dir
        for key in (d / "host_key", self.key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        authorized = d / "authorized_keys"
        authorized.write_text((d / "client_key.pub").read_text() if self.authorize else "")
        authorized.chmod(0o600)
        (d / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {authorized}\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n"
            "MaxStartups 100:30:200\nMaxSessions 100\nLogLevel ERROR\n"
        )
        client = (
            f"  User {self.user}\n  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
            "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n"
        )
        self.config.write_text(
            f"Host {ALIAS}\n  HostName 127.0.0.1\n  Port {self.port}\n{client}Host localhost 127.0.0.1\n{client}"
        )

    @property
    def ssh_command(self) -> str:
        return f"ssh -F {self.config}"

    def url(self, path: Path | str, alias: bool = True) -> str:
        """An ssh:// source for `path` on this server: by its config alias, or as localhost:PORT."""
        return f"ssh://{ALIAS}{path}" if alias else f"ssh://localhost:{self.port}{path}"

    def start(self) -> LoopbackSSHD:
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.proc.communicate()[1].decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen within 10 s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> LoopbackSSHD:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
