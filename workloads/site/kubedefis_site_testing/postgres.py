"""A throwaway PostgreSQL server for tests and benchmarks.

Debian's server binaries, a temporary data directory, a free port, the socket in the temporary
directory. initdb and postgres refuse to run as root, so as root they run as the `postgres` user.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

DEFAULT_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")
SERVER_SETTINGS = {
    # Durability is pointless for a throwaway database; speed is not.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "64MB",
    "listen_addresses": "127.0.0.1",
}


def find_bin_dir() -> Path:
    configured = os.environ.get("KUBEDEFIS_PG_BIN")
    candidates = [configured] if configured else list(DEFAULT_BIN_DIRS)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(f"no PostgreSQL server binaries found in {candidates} (set KUBEDEFIS_PG_BIN)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """`with ThrowawayPostgres() as pg: pg.env()` gives POSTGRES_* variables for the site."""

    def __init__(
        self, *, user: str = "kubedefis", database: str = "kubedefis", password: str = "kubedefis"
    ) -> None:
        self.user = user
        self.database = database
        self.password = password
        self.bin_dir = find_bin_dir()
        self.port = 0
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        # initdb refuses root; run the server as the `postgres` system user then.
        self._run_as = "postgres" if os.geteuid() == 0 else None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.root is not None
        return self.root / "socket"

    def _subprocess_kwargs(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        entry = pwd.getpwnam(self._run_as)
        return {
            "user": entry.pw_uid,
            "group": entry.pw_gid,
            "extra_groups": [],
            "env": {**os.environ, "HOME": entry.pw_dir},
        }

    def start(self, timeout: float = 30.0) -> Self:
        self.root = Path(tempfile.mkdtemp(prefix="kubedefis-pg-"))
        self.data_dir.mkdir()
        self.socket_dir.mkdir()
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            self.root.chmod(0o755)
            for path in (self.data_dir, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        password_file = self.root / "pwfile"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o644)
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "--pgdata", str(self.data_dir),
                "--username", self.user,
                "--pwfile", str(password_file),
                "--auth", "scram-sha-256",
                "--encoding", "UTF8",
                "--locale", "C.UTF-8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **self._subprocess_kwargs(),
        )  # fmt: skip
        password_file.unlink()
        self._launch()
        self._wait_ready(timeout)
        self._create_database()
        return self

    def _launch(self) -> None:
        self.port = free_port()
        settings = {
            **SERVER_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
        }
        command = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 (kept open for the server's life)
        self.process = subprocess.Popen(command, stdout=log, stderr=log, **self._subprocess_kwargs())
        log.close()

    def _connect(self, database: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            connect_timeout=2,
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"postgres exited early; see {self.root}/postgres.log:\n{self.log_tail()}")
            try:
                self._connect().close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres not ready after {timeout}s:\n{self.log_tail()}") from None
                time.sleep(0.1)

    def _create_database(self) -> None:
        if self.database == "postgres":
            return
        with self._connect() as connection:
            connection.autocommit = True
            connection.execute(f'CREATE DATABASE "{self.database}"')

    def log_tail(self, lines: int = 20) -> str:
        log = (self.root / "postgres.log") if self.root else None
        if log is None or not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop_server(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        self.stop_server()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def env(self) -> dict[str, str]:
        return {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DB": self.database,
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
        }

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
