"""PostgreSQL restarted under a live run: a private PostgreSQL cluster (this test's own, made
with the machine's initdb and pg_ctl, so that stopping it touches nothing else), one
`flowo serve` on it, three live-stream clients, and a real Snakemake run reporting to the
server. The workflow is gated (see test_delivery.py): phase 0 is stored, then PostgreSQL
stops, phase 1 runs while it is down, PostgreSQL starts again, and phase 2 runs after.

While the database is down the server says so (`/readyz` 503) and refuses ingest with 503;
the plugin keeps its batches and retries them. Afterwards:

- the run is stored exactly once and as Snakemake ended it, with nothing left undelivered;
- the server's listener reconnected: every live-stream client received every event of the
  run exactly once, in stream order, whether its stream stayed open or had to resume.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import Api, assert_every_event_once, free_port, need, psql, wait_for
from test_delivery import gated_workflow, open_gate, wait_gate_waiting
from test_scaleout import SseClient

# A fault of the server side: like the deployment tests, it runs with the newest Snakemake only.
pytestmark = pytest.mark.deployment

PHASES = [6, 6, 6]


def postgres_bindir() -> Path | None:
    """The newest PostgreSQL server installed from Debian's packages."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster of its own on a free port, run as `postgres` when the test runs as
    root (PostgreSQL refuses to run as root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Not under pytest's tmp_path: the postgres user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="flowo-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pg = pwd.getpwnam("postgres")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/flowo"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{cmd}: {out.returncode}\n{out.stdout}\n{out.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_pg():
    bindir = postgres_bindir()
    need(bindir is not None, "PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    need(shutil.which("psql") is not None, "psql is not installed")
    pg = PrivatePostgres(bindir)
    try:
        pg.start()
        admin = pg.url.rsplit("/", 1)[0] + "/postgres"
        created = psql(admin, "CREATE DATABASE flowo")
        assert created.returncode == 0, created.stderr
        yield pg
    finally:
        pg.close()


def readyz(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def test_postgres_restarted_under_ingest_and_live_streams(
    private_pg: PrivatePostgres, make_server, sandbox, snakemake
) -> None:
    server = make_server(private_pg.url, port=free_port()).start()
    ingest, read = server.token("ingest"), server.token("read")
    api = Api(server.url, read)
    streams = [SseClient(server.url, read) for _ in range(3)]
    for stream in streams:
        stream.start()
    for stream in streams:
        assert stream.opened.wait(60), f"the stream did not open: {stream.problems}"

    workdir = sandbox.root / "work" / "pg-restart"
    gated_workflow(workdir, PHASES)
    env = dict(sandbox.env, FLOWO_URL=server.url, FLOWO_TOKEN=ingest)
    proc = snakemake(workdir, ["--cores", "2"], env=env)
    run_id = proc.run_id()

    def stored(p: int) -> None:
        done = sum(PHASES[: p + 1]) + p
        wait_for(f"phase {p} stored", lambda: api.run(run_id)["jobs"]["succeeded"] >= done)

    wait_gate_waiting(proc, 1)
    stored(0)

    private_pg.stop()
    assert readyz(server.url) == 503, "with its database down the server is not ready"
    open_gate(workdir, 1)
    wait_gate_waiting(proc, 2)  # phase 1 ran while PostgreSQL was down
    private_pg.start()
    wait_for("the server ready again", lambda: readyz(server.url) == 200)
    stored(1)
    open_gate(workdir, 2)
    result = proc.wait()

    assert result.rc == 0, result.describe()
    assert result.run_id == run_id
    assert result.undelivered == [], result.describe()
    assert result.stats is not None and result.stats["dropped"] == 0, result.stats
    events = assert_every_event_once(api, run_id)
    assert len(events) == result.stats["events"], (len(events), result.stats)
    run = api.run(run_id)
    assert run["status"] == "succeeded", run
    assert run["jobs"]["succeeded"] == sum(PHASES) + len(PHASES), run["jobs"]

    positions = {e["pos"]: e["seq"] for e in events}
    for i, stream in enumerate(streams):
        wait_for(
            f"stream {i} to deliver the whole run",
            lambda: len(stream.of_run(run_id)) >= len(events),
        )
        stream.stopping.set()
        received = stream.of_run(run_id)
        ids = [e["id"] for e in received]
        assert ids == sorted(set(ids)), f"stream {i}: positions repeated or out of order"
        assert {e["id"]: e["seq"] for e in received} == positions, f"stream {i}"
        assert stream.problems == [], stream.problems
