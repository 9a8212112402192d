"""A process whose secret is not the store's refuses to start (issue 16, item 8).

Real gateway processes on a real SQLite file and a real PostgreSQL database: the
first one records the secret's fingerprint; one started with another
``auth.secret_file`` exits non-zero with one line naming the key and saying what
to do; one with a copy of the first secret serves.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from harness import Gateway, free_port


def config(tmp_path: Path, store: str, secret: Path) -> Path:
    path = tmp_path / f"{secret.stem}-{free_port()}.toml"
    path.write_text(f'[auth]\nsecret_file = "{secret}"\n\n[store]\n{store}\n')
    return path


def refused(config_path: Path) -> subprocess.CompletedProcess[str]:
    """Start a gateway that must not start: its exit, within a bound."""
    command = [sys.executable, "-m", "gateway", "--config", str(config_path)]
    return subprocess.run(
        [*command, "--port", str(free_port())], capture_output=True, text=True, timeout=60
    )


def assert_refused_for_its_secret(result: subprocess.CompletedProcess[str], secret: Path) -> None:
    assert result.returncode != 0
    assert result.stdout == ""  # it never got as far as serving
    [line] = result.stderr.strip().splitlines()  # one line, no traceback
    assert "auth.secret_file" in line and str(secret.resolve()) in line
    assert "copy the first replica's secret file" in line


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f'path = "{tmp_path / "gateway.db"}"'
    cluster = request.getfixturevalue("postgres_cluster")
    return f'url = "{cluster.create_database()}"'


def test_a_second_secret_on_one_store_is_refused_and_a_copy_is_not(store, tmp_path) -> None:
    first, other = tmp_path / "first.secret", tmp_path / "other.secret"
    replica = Gateway(config(tmp_path, store, first), free_port()).start()  # makes `first`
    try:
        assert first.is_file()
        # A second replica with its own, new secret: refused while the first serves.
        result = refused(config(tmp_path, store, other))
        assert_refused_for_its_secret(result, other)
        assert other.is_file()  # its secret was made, and stays unused
        # Done as the line says: a copy of the first replica's file.
        copy = tmp_path / "copy.secret"
        shutil.copy(first, copy)
        Gateway(config(tmp_path, store, copy), free_port()).start().stop()  # healthy
    finally:
        replica.stop()
    # The first secret still starts; the other is still refused after a restart.
    Gateway(config(tmp_path, store, first), free_port()).start().stop()
    assert_refused_for_its_secret(refused(config(tmp_path, store, other)), other)


def test_the_store_keeps_a_fingerprint_never_the_secret(tmp_path) -> None:
    secret = tmp_path / "gateway.secret"
    db = tmp_path / "gateway.db"
    Gateway(config(tmp_path, f'path = "{db}"', secret), free_port()).start().stop()
    raw = secret.read_bytes()
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("gateway.db*"))
    assert raw not in stored and raw.hex().encode() not in stored
    with sqlite3.connect(db) as conn:
        [(value,)] = conn.execute("SELECT value FROM installation").fetchall()
    assert len(value) == 64 and value != raw.hex()
