"""End-to-end test support for the Snakemake plugin: real Snakemake runs with `--logger flowo`,
real `flowo serve` processes on the embedded store or on PostgreSQL, and a small client for the
HTTP API that reads what was recorded.

Run with the Python of a Snakemake venv made by `scripts/py-env.sh` (the plugin wheel installed
in it); `scripts/test.sh` does so for every Snakemake version tested. Environment:

- FLOWO_BIN: the `flowo` binary built by cargo, for the server side (default
  `$CARGO_TARGET_DIR/release/flowo`, else `$FLOWO_CACHE/target/release/flowo`, FLOWO_CACHE
  defaulting to `~/.cache/flowo` as in scripts/py-env.sh);
- FLOWO_PY_WHEEL: the plugin wheel, for test_wheel.py (default: the one wheel in
  `$FLOWO_CACHE/wheels`, where scripts/py-env.sh builds it);
- FLOWO_TEST_DATABASE_URL: a PostgreSQL server where each test creates its own database
  (default `postgres://postgres@127.0.0.1:5432/postgres`);
- CI: when set, a missing PostgreSQL, Snakemake, plugin or binary fails the tests instead of
  skipping them.

Every test gets its own HOME, XDG directories and FLOWO_DATA_DIR, and sees no FLOWO_* or
SNAKEMAKE_* variable from the machine.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(
    os.environ.get("FLOWO_FIXTURES", REPO.parent / "shared" / "fixtures" / "snakemake-events")
)
# The venv's own bin directory (not resolved: its python is a symlink out of the venv).
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = VENV_BIN / "snakemake"
FLOWO_CONSOLE = VENV_BIN / "flowo"
PG_ADMIN_URL = os.environ.get(
    "FLOWO_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
IN_CI = bool(os.environ.get("CI"))
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
RECORDING = re.compile(rf"^flowo: recording run ({UUID}) to (\S+)$")
# The sync command names the spool directory when it is not the default one.
UNDELIVERED = re.compile(
    rf"^flowo: (?P<count>\d+) events of run (?P<run_id>{UUID}) not delivered to (?P<target>\S+); "
    r"kept in (?P<spool_file>.+); "
    r"run `flowo sync(?: --spool-dir (?P<spool_dir>.+))?` to deliver them$"
)
# Safety nets only: a hung process fails the test instead of hanging the suite. No test asserts
# how long anything took.
PROCESS_TIMEOUT = 600
WAIT_TIMEOUT = 120


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "deployment: the deployment (container files, replicas behind Caddy); "
        "scripts/test.sh runs them with the newest Snakemake only",
    )


def need(condition: bool, reason: str) -> None:
    """Skips the test when `condition` is false, or fails it under CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
    pytest.skip(reason)


def wait_for(what: str, check: Callable[[], object], timeout: float = WAIT_TIMEOUT) -> object:
    """Polls `check` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


# --- the parts under test ---------------------------------------------------------------------


def flowo_bin() -> Path:
    explicit = os.environ.get("FLOWO_BIN")
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("FLOWO_CACHE", Path.home() / ".cache/flowo"))
    target = os.environ.get("CARGO_TARGET_DIR", str(cache / "target"))
    return Path(target) / "release" / "flowo"


@pytest.fixture(scope="session")
def flowo() -> Path:
    """The `flowo` binary built by cargo (the server side)."""
    path = flowo_bin()
    need(
        path.is_file() and os.access(path, os.X_OK),
        f"no flowo binary at {path} (run scripts/py-env.sh)",
    )
    return path


@pytest.fixture(scope="session")
def snakemake_version() -> str:
    """The version of the Snakemake installed beside this Python, with the plugin."""
    need(
        SNAKEMAKE.is_file(),
        f"no snakemake in {VENV_BIN} (run pytest with a venv from scripts/py-env.sh)",
    )
    from importlib import metadata

    try:
        metadata.version("snakemake-logger-plugin-flowo")
    except metadata.PackageNotFoundError:
        need(False, f"the plugin wheel is not installed in {VENV_BIN.parent}")
    return metadata.version("snakemake")


@pytest.fixture(scope="session")
def plugin_version(snakemake_version: str) -> str:
    from importlib import metadata

    return metadata.version("snakemake-logger-plugin-flowo")


# --- isolation --------------------------------------------------------------------------------


@dataclass
class Sandbox:
    """A test's private world: home, XDG directories, FLOWO_DATA_DIR and an environment that
    points at them and carries nothing FlowO or Snakemake would read from the machine."""

    root: Path
    env: dict[str, str]

    @property
    def data_dir(self) -> Path:
        return Path(self.env["FLOWO_DATA_DIR"])

    @property
    def config_file(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "flowo" / "config.toml"

    def workdir(self, scenario: str, name: str | None = None) -> Path:
        """A scratch copy of a fixture workflow folder (Snakefile and data, not the captures)."""
        dest = self.root / "work" / (name or scenario)
        shutil.copytree(
            FIXTURES / scenario, dest, ignore=shutil.ignore_patterns("*.jsonl", "*.stderr.txt")
        )
        return dest


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLOWO_", "SNAKEMAKE_", "XDG_", "PYTEST_", "VIRTUAL_ENV", "PYTHON"))
        and k not in ("CI",)
    }
    dirs = {}
    for name in ("home", "config", "data", "cache", "state", "flowo-data"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        HOME=str(dirs["home"]),
        XDG_CONFIG_HOME=str(dirs["config"]),
        XDG_DATA_HOME=str(dirs["data"]),
        XDG_CACHE_HOME=str(dirs["cache"]),
        XDG_STATE_HOME=str(dirs["state"]),
        FLOWO_DATA_DIR=str(dirs["flowo-data"]),
        LC_ALL="C.UTF-8",
        RUST_BACKTRACE="1",
    )
    return Sandbox(root=tmp_path, env=env)


# --- processes --------------------------------------------------------------------------------


class Processes:
    """Every process a test starts, each in its own session, so the test can end it and the
    job shells it left behind (by its process group id, never by name)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def popen(self, args: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.started.append(proc)
        return proc

    def kill_group(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        for proc in self.started:
            self.kill_group(proc)


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.close()


# --- PostgreSQL -------------------------------------------------------------------------------


def psql(url: str, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def postgres_ok() -> bool:
    if shutil.which("psql") is None:
        return False
    return psql(PG_ADMIN_URL, "SELECT 1").returncode == 0


@pytest.fixture
def pg_url(postgres_ok: bool) -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    need(postgres_ok, f"PostgreSQL is not reachable at {PG_ADMIN_URL} (or psql is missing)")
    name = f"flowo_py_{secrets.token_hex(6)}"
    created = psql(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
    assert created.returncode == 0, created.stderr
    parts = urllib.parse.urlsplit(PG_ADMIN_URL)
    yield urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    psql(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the server and its API -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """A client for FlowO's HTTP API with a bearer token."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def get(self, path: str, **params) -> object:
        query = {k: v for k, v in params.items() if v is not None}
        url = f"{self.base}/api/v1{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            raise AssertionError(f"GET {url}: {e.code} {e.read().decode(errors='replace')}") from e

    def run(self, run_id: str) -> dict:
        return self.get(f"/runs/{run_id}")

    def runs(self) -> list[dict]:
        return self.get("/runs", limit=1000)["items"]

    def jobs(self, run_id: str) -> list[dict]:
        items, cursor = [], None
        while True:
            page = self.get(f"/runs/{run_id}/jobs", limit=1000, cursor=cursor)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def rules(self, run_id: str) -> list[dict]:
        return self.get(f"/runs/{run_id}/rules")

    def errors(self, run_id: str) -> list[dict]:
        return self.get(f"/runs/{run_id}/errors")

    def events(self, run_id: str, kinds: str | None = None) -> list[dict]:
        out: list[dict] = []
        after = None
        while True:
            page = self.get(f"/runs/{run_id}/events", kinds=kinds, after_seq=after, limit=1000)
            if not page:
                return out
            out += page
            after = page[-1]["seq"]


class Server:
    """A `flowo serve` process. `database_url=None` serves the default store (the embedded one
    in FLOWO_DATA_DIR). The port, once known, is kept across restarts."""

    def __init__(
        self,
        flowo: Path,
        sandbox: Sandbox,
        processes: Processes,
        database_url: str | None,
        port: int | None = None,
        lost_after: int | None = 3600,
        drain: int | None = None,
    ) -> None:
        self.flowo = flowo
        self.sandbox = sandbox
        self.processes = processes
        self.database_url = database_url
        self.port = port
        self.lost_after = lost_after
        self.drain = drain
        self.proc: subprocess.Popen | None = None
        self.log = sandbox.root / f"serve-{secrets.token_hex(3)}.log"

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    def admin(self, *args: str, stdin: str | None = None) -> str:
        """Runs `flowo ARGS` on the server's database; its stdout."""
        cmd = [str(self.flowo), *args]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        out = subprocess.run(
            cmd, env=self.sandbox.env, input=stdin, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, f"{cmd}: {out.returncode}\n{out.stdout}\n{out.stderr}"
        return out.stdout

    def token(self, scope: str) -> str:
        """A new API token of `scope` for the test's administrator (made on first use)."""
        users = json.loads(self.admin("user", "list", "--json"))
        if not any(u["email"] == "admin@flowo.test" for u in users):
            self.admin("user", "create", "admin@flowo.test", "--role", "admin")
        out = self.admin(
            "token",
            "create",
            "--user",
            "admin@flowo.test",
            "--name",
            f"tests-{scope}",
            "--scope",
            scope,
        )
        return out.strip().splitlines()[-1].strip()

    def start(self) -> "Server":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        bind = f"127.0.0.1:{self.port or 0}"
        cmd = [str(self.flowo), "serve", "--bind", bind]
        if self.lost_after is not None:
            cmd += ["--lost-after", str(self.lost_after)]
        if self.drain is not None:
            cmd += ["--drain", str(self.drain)]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        err = open(self.log, "a")
        self.proc = self.processes.popen(
            cmd, env=self.sandbox.env, stdout=subprocess.PIPE, stderr=err, text=True
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream) -> None:
            for line in stream:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                pytest.fail(f"flowo serve printed no ready line:\n{self.log.read_text()}")
            if line.startswith("FlowO is ready"):
                break
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert m, line
        self.port = int(m.group(1))
        wait_for("/readyz", self._ready)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def make_server(flowo: Path, sandbox: Sandbox, processes: Processes):
    servers: list[Server] = []

    def make(database_url: str | None, **kwargs) -> Server:
        server = Server(flowo, sandbox, processes, database_url, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


# --- Snakemake --------------------------------------------------------------------------------


@dataclass
class SnakemakeResult:
    """A finished Snakemake process and what it said."""

    args: list[str]
    rc: int
    output: str
    stats: dict | None
    run_id: str | None = None
    target: str | None = None
    flowo_lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    undelivered: list[re.Match] = field(default_factory=list)

    def describe(self) -> str:
        tail = "\n".join(self.output.splitlines()[-60:])
        return f"snakemake {' '.join(self.args)} -> {self.rc}\n--- output (tail) ---\n{tail}"


class Snakemake:
    """One Snakemake process with `--logger flowo`; stdout and stderr go to one file.
    `wrapper`: a command that runs Snakemake (its arguments follow), e.g. in a mount namespace."""

    def __init__(
        self,
        sandbox: Sandbox,
        processes: Processes,
        workdir: Path,
        args: list[str],
        env: dict[str, str] | None = None,
        logger: bool = True,
        wrapper: list[str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.args = (["--logger", "flowo"] if logger else []) + args
        self.env = dict(env if env is not None else sandbox.env)
        self.stats_path = sandbox.root / f"stats-{secrets.token_hex(4)}.json"
        self.env["FLOWO_PLUGIN_STATS"] = str(self.stats_path)
        self.log = sandbox.root / f"snakemake-{secrets.token_hex(4)}.log"
        self.processes = processes
        self.proc = processes.popen(
            [*(wrapper or []), str(SNAKEMAKE), *self.args],
            cwd=workdir,
            env=self.env,
            stdout=open(self.log, "w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def run_id(self) -> str:
        """The run id the plugin announced (waits for the line)."""

        def announced():
            for line in self.output().splitlines():
                m = RECORDING.match(line)
                if m:
                    return m.group(1)
            if self.proc.poll() is not None:
                pytest.fail(f"snakemake ended without announcing a run:\n{self.output()}")
            return None

        return wait_for("the plugin's `recording run` line", announced)

    def signal(self, sig: int) -> None:
        """Signals the Snakemake process only (not its jobs), as the captures were made."""
        self.proc.send_signal(sig)

    def wait(self) -> SnakemakeResult:
        try:
            rc = self.proc.wait(timeout=PROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.processes.kill_group(self.proc)
            pytest.fail(f"snakemake did not finish:\n{self.output()}")
        # Job shells a killed Snakemake left behind must not outlive the step.
        self.processes.kill_group(self.proc)
        output = self.output()
        stats = None
        if self.stats_path.exists():
            stats = json.loads(self.stats_path.read_text())
        result = SnakemakeResult(args=self.args, rc=rc, output=output, stats=stats)
        for line in output.splitlines():
            if not line.startswith("flowo:"):
                continue
            result.flowo_lines.append(line)
            if m := RECORDING.match(line):
                assert result.run_id is None, f"two `recording run` lines\n{result.describe()}"
                result.run_id, result.target = m.group(1), m.group(2)
            elif line.startswith("flowo: warning: "):
                result.warnings.append(line)
            elif m := UNDELIVERED.match(line):
                result.undelivered.append(m)
            else:
                raise AssertionError(f"unexpected plugin line {line!r}\n{result.describe()}")
        return result


@pytest.fixture
def snakemake(sandbox: Sandbox, processes: Processes, snakemake_version: str):
    """Starts Snakemake: `snakemake(workdir, args, env=None, logger=True, wrapper=None).wait()`."""

    def start(
        workdir: Path,
        args: list[str],
        env: dict[str, str] | None = None,
        logger: bool = True,
        wrapper: list[str] | None = None,
    ):
        return Snakemake(
            sandbox, processes, workdir, args, env=env, logger=logger, wrapper=wrapper
        )

    return start


# --- reading Snakemake's own console output -------------------------------------------------------


@dataclass
class ConsoleJobs:
    """What Snakemake's console output says happened to jobs."""

    started: dict[int, str | None]  # jobid -> rule (None: printed as a `message:` only)
    finished: set[int]
    failed: set[int]
    stats: dict[str, int]  # the first "Job stats" table, without "total"


JOB_BLOCK = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
JOB_MESSAGE = re.compile(r"^Job (\d+): ")
FINISHED = re.compile(r"^Finished jobid: (\d+)(?: \(Rule: (\S+)\))?")
ERROR_IN_RULE = re.compile(r"^Error in rule (\S+):$")


def console_jobs(output: str) -> ConsoleJobs:
    started: dict[int, str | None] = {}
    finished: set[int] = set()
    failed: set[int] = set()
    stats: dict[str, int] = {}
    pending: tuple[str, str] | None = None  # ("start" | "error", rule) awaiting its jobid line
    lines = output.splitlines()
    in_stats = False
    for line in lines:
        if line == "Job stats:" and not stats:
            in_stats = True
            continue
        if in_stats:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] == "total":
                    in_stats = False
                else:
                    stats[parts[0]] = int(parts[1])
            elif line and not set(line) <= set("- ") and parts[:2] != ["job", "count"]:
                in_stats = False
            continue
        if m := JOB_BLOCK.match(line):
            pending = ("start", m.group(1))
        elif m := ERROR_IN_RULE.match(line):
            pending = ("error", m.group(1))
        elif pending and (m := JOBID.match(line)):
            jobid = int(m.group(1))
            if pending[0] == "start":
                started[jobid] = pending[1]
            else:
                failed.add(jobid)
            pending = None
        elif m := JOB_MESSAGE.match(line):
            started.setdefault(int(m.group(1)), None)
            pending = None
        elif m := FINISHED.match(line):
            jobid = int(m.group(1))
            finished.add(jobid)
            if m.group(2) and started.get(jobid) is None:
                started[jobid] = m.group(2)
        elif pending and not line.startswith((" ", "\t")):
            pending = None
    return ConsoleJobs(started=started, finished=finished, failed=failed, stats=stats)


# --- checks shared by the suites ------------------------------------------------------------------


def assert_every_event_once(api: Api, run_id: str, finished: bool = True) -> list[dict]:
    """The run's stored events are seqs 0..N-1 exactly once (N = its event count) and, for a
    run that ended, the last is run_finished. Returns the events."""
    run = api.run(run_id)
    events = api.events(run_id)
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(run["event_count"])), (
        f"run {run_id}: stored seqs are not 0..{run['event_count'] - 1}: "
        f"missing {sorted(set(range(max(seqs, default=-1) + 1)) - set(seqs))[:20]}"
    )
    if finished:
        assert events and events[-1]["kind"] == "run_finished", (
            f"run {run_id}: last event is {events[-1]['kind'] if events else None}"
        )
        assert [e["kind"] for e in events].count("run_finished") == 1
    return events
