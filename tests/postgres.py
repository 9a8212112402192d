"""Throwaway PostgreSQL 15 clusters for the tests.

``initdb`` and ``pg_ctl`` from the Debian server package, run as the ``postgres``
user when the tests run as root (PostgreSQL refuses root). Each cluster lives in
a temporary directory, with its unix socket there too, listens on a free
loopback port, and is stopped and deleted afterwards. Each test gets its own
database in the one session-wide cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from harness import free_port

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
OWNER = "postgres"


def available() -> bool:
    return (BIN / "initdb").exists() and (os.geteuid() != 0 or _has_user(OWNER))


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class Cluster:
    """One PostgreSQL server in a temporary directory on a free port."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hitl-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.port = free_port()
        self.running = False

    def _run(self, *command: str | Path) -> subprocess.CompletedProcess[str]:
        args = [str(part) for part in command]
        if os.geteuid() == 0:
            args = ["runuser", "-u", OWNER, "--", *args]
        return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120)

    def init(self) -> Cluster:
        self.sockets.mkdir()
        if os.geteuid() == 0:
            self.root.chmod(0o755)
            for path in (self.root, self.sockets):
                shutil.chown(path, OWNER, OWNER)
        self._run(BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        return self.start()

    def start(self) -> Cluster:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off "
            "-c max_connections=400"
        )
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.root / "server.log", "-w",
                  "-t", "60", "-o", options, "start")  # fmt: skip
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` is a crash); its data stays for ``start``."""
        if self.running:
            self._run(BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")
            self.running = False

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its url."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._run(BIN / "psql", "-h", self.sockets, "-p", str(self.port), "-U", "postgres",
                  "-d", "postgres", "-qc", f"CREATE DATABASE {name}")  # fmt: skip
        return self.url(name)


_shared: Cluster | None = None


def shared_cluster() -> Cluster:
    """The session's cluster, started on first use and removed when the tests end."""
    global _shared
    if _shared is None:
        _shared = Cluster().init()
        atexit.register(_shared.destroy)
    return _shared
