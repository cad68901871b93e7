"""Scale-out, live: PostgreSQL, two `flowo serve` replicas and Caddy (Debian's package, with
the repository's deploy/Caddyfile) load-balancing them, all native processes.

A real Snakemake run reports through Caddy while an SSE client follows the stream through
Caddy. Midway one replica is SIGKILLed, and later both are restarted one after the other (a
rolling restart). The workflow is gated (see test_delivery.py), so each phase of jobs runs
while a known set of replicas is up: phase 1 with only the second replica, phase 2 with only
the first, phase 3 with only the second. The replicas drain as compose.yml has them do (on
SIGTERM /readyz answers 503 for 3 s before the listener closes, so that Caddy's health check
takes a stopping replica out first). Afterwards:

- the run is stored exactly once and as Snakemake ended it, with nothing left undelivered;
- both replicas ingested events of it (their /metrics counters, read before each stop);
- the SSE client received every event of the run exactly once, in stream order, although it
  was cut off and had to resume (Last-Event-ID) on the other replica.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import (
    REPO,
    Api,
    Processes,
    Sandbox,
    Server,
    assert_every_event_once,
    free_port,
    need,
    wait_for,
)
from test_delivery import gated_workflow, open_gate, wait_gate_waiting

pytestmark = pytest.mark.deployment

CADDYFILE = REPO / "deploy" / "Caddyfile"
PHASES = [8, 8, 8, 8]
# The replicas' drain, as compose.yml sets it (above the Caddyfile's 2 s health interval).
DRAIN = int(re.search(r'FLOWO_DRAIN: "(\d+)"', (REPO / "compose.yml").read_text())[1])


class Caddy:
    """Debian's caddy serving deploy/Caddyfile on plain HTTP in front of `upstreams`."""

    def __init__(self, sandbox: Sandbox, processes: Processes, upstreams: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = sandbox.root / "caddy.log"
        env = dict(
            sandbox.env,
            FLOWO_SITE=self.url,
            FLOWO_UPSTREAMS=" ".join(upstreams),
            CADDY_ADMIN="off",
        )
        self.proc = processes.popen(
            ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            env=env,
            cwd=sandbox.root,
            stdout=open(self.log, "w"),
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"caddy exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False


class SseClient(threading.Thread):
    """Follows GET /api/v1/stream like a browser's EventSource: on any disconnect it reconnects
    with Last-Event-ID set to the last id received. Keeps every message's id and data."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.token = token
        self.last_id: str | None = None
        self.events: list[dict] = []  # the `data` of unnamed messages, with their `id`
        self.connections = 0
        self.opened = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.problems: list[str] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            req = urllib.request.Request(f"{self.base}/api/v1/stream", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    self.connections += 1
                    self._read(resp)
            except urllib.error.HTTPError as e:
                # Between replicas (both briefly away) the proxy may answer 502/503.
                if e.code < 500:
                    self.problems.append(f"stream answered {e.code}: {e.read()[:200]!r}")
                    return
            except (urllib.error.URLError, ConnectionError, OSError, TimeoutError):
                pass
            time.sleep(0.2)

    def _read(self, resp) -> None:
        event_name, event_id, data = None, None, []
        for raw in resp:
            if self.stopping.is_set():
                return
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if data or event_id is not None:
                    self._dispatch(event_name, event_id, "\n".join(data))
                event_name, event_id, data = None, None, []
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event_name = value
                elif name == "id":
                    event_id = value
                elif name == "data":
                    data.append(value)

    def _dispatch(self, name: str | None, event_id: str | None, data: str) -> None:
        if event_id is not None:
            self.last_id = event_id
        if name == "ready":
            self.opened.set()
            return
        message = json.loads(data)
        with self.lock:
            self.events.append({"id": int(event_id), **message["event"]})

    def of_run(self, run_id: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e["run_id"] == run_id]


def ingested(server: Server) -> int:
    """The replica's `flowo_events_ingested_total` since it started."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    m = re.search(r"^flowo_events_ingested_total (\d+)", text, re.M)
    assert m, text
    return int(m.group(1))


def test_two_replicas_behind_caddy_lose_nothing_across_a_crash_and_a_rolling_restart(
    make_server, pg_url: str, sandbox: Sandbox, processes: Processes, snakemake
) -> None:
    need(shutil.which("caddy") is not None, "Debian's caddy is not installed")
    first = make_server(pg_url, port=free_port(), drain=DRAIN).start()
    second = make_server(pg_url, port=free_port(), drain=DRAIN).start()
    caddy = Caddy(sandbox, processes, [f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"])
    wait_for("Caddy in front of the replicas", caddy.ready)

    ingest_token = first.token("ingest")
    read_token = first.token("read")
    api = Api(caddy.url, read_token)
    stream = SseClient(caddy.url, read_token)
    stream.start()
    assert stream.opened.wait(60), f"the stream did not open: {stream.problems}"

    by_replica = {"first": 0, "second": 0}
    workdir = sandbox.root / "work" / "scaleout"
    gated_workflow(workdir, PHASES)
    env = dict(sandbox.env, FLOWO_URL=caddy.url, FLOWO_TOKEN=ingest_token)
    proc = snakemake(workdir, ["--cores", "2"], env=env)
    run_id = proc.run_id()

    def phase_stored(p: int) -> None:
        """Until phase p's jobs and gate are stored as succeeded: ingested by whichever
        replica is up now."""
        wait_gate_waiting(proc, p + 1)
        done = sum(PHASES[: p + 1]) + p
        wait_for(f"phase {p} stored", lambda: api.run(run_id)["jobs"]["succeeded"] >= done)

    # Phase 0 with both replicas up; then the first crashes and phase 1 runs on the second.
    phase_stored(0)
    by_replica["first"] += ingested(first)
    first.kill()
    open_gate(workdir, 1)
    phase_stored(1)

    # Rolling restart: the first comes back; the second stops (SIGTERM) and phase 2 runs on
    # the first alone; the second comes back, the first stops, phase 3 runs on the second.
    first.start()
    by_replica["second"] += ingested(second)
    second.stop()
    open_gate(workdir, 2)
    phase_stored(2)
    second.start()
    by_replica["first"] += ingested(first)
    first.stop()
    open_gate(workdir, 3)
    result = proc.wait()
    first.start()

    assert result.rc == 0, result.describe()
    assert result.run_id == run_id
    # Warnings are expected (a replica dying under a request is a failed delivery, retried);
    # what matters is that nothing is left undelivered.
    assert result.undelivered == [], result.describe()
    assert result.stats is not None and result.stats["dropped"] == 0, result.stats
    events = assert_every_event_once(api, run_id)
    assert len(events) == result.stats["events"], (len(events), result.stats)
    run = api.run(run_id)
    assert run["status"] == "succeeded", run
    total_jobs = sum(PHASES) + (len(PHASES) - 1) + 1  # steps, gates, all
    assert run["jobs"]["succeeded"] == total_jobs, run["jobs"]

    by_replica["second"] += ingested(second)
    assert by_replica["first"] > 0 and by_replica["second"] > 0, by_replica

    # The SSE client: every event of the run once, in stream order, across its reconnects.
    wait_for(
        "the stream to deliver the whole run",
        lambda: len(stream.of_run(run_id)) >= len(events),
    )
    stream.stopping.set()
    received = stream.of_run(run_id)
    ids = [e["id"] for e in received]
    assert ids == sorted(set(ids)), "stream positions repeated or out of order"
    assert sorted(e["seq"] for e in received) == [e["seq"] for e in events], (
        "the stream's events are not the stored ones"
    )
    assert {e["id"]: e["seq"] for e in received} == {e["pos"]: e["seq"] for e in events}
    assert stream.connections >= 2, (
        f"the stream never had to resume ({stream.connections} connection): the test did "
        "not exercise a replica going away under it"
    )
    assert stream.problems == [], stream.problems
