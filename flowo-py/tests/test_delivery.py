"""Delivery when the server is not there: down when the run starts, crashed (SIGKILL) and
restarted mid-run, and a Snakemake that is itself SIGKILLed (heartbeats, then `lost`).

The workflows are gated: phase p's jobs wait for a gate job that waits for a file the test
creates, so "halfway through" is a point in the run the test chooses, not a guess about
timing. Whatever could not be delivered during the run is delivered by `flowo sync` (the wheel's
console script), after which every event must be stored exactly once.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import (
    FLOWO_CONSOLE,
    Api,
    Sandbox,
    SnakemakeResult,
    assert_every_event_once,
    console_jobs,
    free_port,
    wait_for,
)


def gated_workflow(workdir: Path, phases: list[int]) -> None:
    """Phase 0 runs at once; phase p > 0 runs after the test creates `gates/p`. Each gate job
    starts only when the previous phase is done, so at most one core waits on a gate."""
    workdir.mkdir(parents=True)
    (workdir / "gates").mkdir()
    (workdir / "Snakefile").write_text(
        f"""
PHASES = {phases!r}
wildcard_constraints:
    p="[0-9]+",
    i="[0-9]+",

rule all:
    input:
        [f"out/{{p}}/{{i}}.txt" for p, n in enumerate(PHASES) for i in range(n)],

def previous_phase(wildcards):
    p = int(wildcards.p)
    return [f"out/{{p - 1}}/{{i}}.txt" for i in range(PHASES[p - 1])]

rule gate:
    input:
        previous_phase,
    output:
        "opened/{{p}}",
    shell:
        "while [ ! -e gates/{{wildcards.p}} ]; do sleep 0.05; done; touch {{output}}"

def opened(wildcards):
    return [] if wildcards.p == "0" else [f"opened/{{wildcards.p}}"]

rule step:
    input:
        opened,
    output:
        "out/{{p}}/{{i}}.txt",
    log:
        "logs/{{p}}/{{i}}.log",
    shell:
        "echo step {{wildcards.p}}/{{wildcards.i}} > {{log}}; sleep 0.05; "
        "echo {{wildcards.i}} > {{output}}"
"""
    )


def wait_gate_waiting(proc, phase: int) -> None:
    """Until Snakemake has submitted the gate job of `phase`: every job of the phase before has
    finished, as far as Snakemake (and so the plugin) knows."""

    def waiting():
        out = proc.output()
        if proc.proc.poll() is not None:
            pytest.fail(f"snakemake ended early:\n{out}")
        return f"output: opened/{phase}" in out

    wait_for(f"the gate job of phase {phase}", waiting)


def open_gate(workdir: Path, phase: int) -> None:
    (workdir / "gates" / str(phase)).touch()


def sync(sandbox: Sandbox, token: str) -> subprocess.CompletedProcess:
    env = dict(sandbox.env, FLOWO_TOKEN=token)
    out = subprocess.run(
        [str(FLOWO_CONSOLE), "sync"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, f"flowo sync: {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def check_complete(
    result: SnakemakeResult, api: Api, sandbox: Sandbox, ingest_token: str, phases: list[int]
) -> None:
    """After the run and `flowo sync`: every event stored exactly once and the run as
    Snakemake ended it."""
    assert result.rc == 0, result.describe()
    assert result.stats is not None, result.describe()
    assert result.stats["dropped"] == 0, result.stats
    for m in result.undelivered:
        assert m["run_id"] == result.run_id and m["target"] == result.target, m.group(0)
        assert int(m["count"]) > 0 and Path(m["spool_file"]).exists(), m.group(0)
        assert m["spool_dir"] is None, "the default spool needs no --spool-dir"
    synced = sync(sandbox, ingest_token)
    events = assert_every_event_once(api, result.run_id)
    assert len(events) == result.stats["events"], (result.stats, len(events), synced.stdout)
    run = api.run(result.run_id)
    total_jobs = sum(phases) + (len(phases) - 1) + 1  # steps, gates, all
    assert run["status"] == "succeeded", run
    assert run["jobs"]["succeeded"] == total_jobs, run["jobs"]
    console = console_jobs(result.output)
    assert {j["job_id"] for j in api.jobs(result.run_id)} == set(console.started)
    # A second sync finds nothing left, and changes nothing.
    sync(sandbox, ingest_token)
    assert api.run(result.run_id)["event_count"] == len(events)


@pytest.fixture
def pg_server(make_server, pg_url):
    """A `flowo serve` on PostgreSQL with its tokens, not yet started."""
    server = make_server(pg_url, port=free_port())
    return server, server.token("ingest"), server.token("admin")


def test_server_down_at_start_then_up_halfway(sandbox, snakemake, pg_server):
    server, ingest, admin = pg_server
    phases = [8, 8]
    workdir = sandbox.root / "gated"
    gated_workflow(workdir, phases)
    env = dict(sandbox.env, FLOWO_TOKEN=ingest)
    proc = snakemake(workdir, ["--cores", "2", "--logger-flowo-url", server.url], env=env)
    run_id = proc.run_id()
    wait_gate_waiting(proc, 1)
    server.start()
    open_gate(workdir, 1)
    result = proc.wait()
    assert result.run_id == run_id
    assert result.warnings, "the plugin says once that the server could not be reached"
    check_complete(result, Api(server.url, admin), sandbox, ingest, phases)


def test_server_killed_mid_run_and_restarted(sandbox, snakemake, pg_server):
    server, ingest, admin = pg_server
    phases = [6, 6, 6]
    workdir = sandbox.root / "gated"
    gated_workflow(workdir, phases)
    server.start()
    api = Api(server.url, admin)
    env = dict(sandbox.env, FLOWO_TOKEN=ingest)
    proc = snakemake(workdir, ["--cores", "2", "--logger-flowo-url", server.url], env=env)
    run_id = proc.run_id()
    wait_gate_waiting(proc, 1)
    # Phase 0 reached the server before it dies.
    wait_for("phase 0 stored", lambda: stored_succeeded(api, run_id) >= phases[0])
    server.kill()
    open_gate(workdir, 1)
    wait_gate_waiting(proc, 2)
    server.start()
    open_gate(workdir, 2)
    result = proc.wait()
    assert result.run_id == run_id
    check_complete(result, api, sandbox, ingest, phases)


def stored_succeeded(api: Api, run_id: str) -> int:
    try:
        return api.run(run_id)["jobs"]["succeeded"]
    except AssertionError:  # not stored yet
        return 0


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def age(run: dict) -> float:
    """Seconds since the run's latest event (the plugin stamps events with this machine's
    clock)."""
    return (dt.datetime.now(dt.timezone.utc) - parse_time(run["last_event_at"])).total_seconds()


def test_killed_snakemake_reads_running_then_lost(sandbox, snakemake, make_server, pg_url):
    lost_after = 3
    server = make_server(pg_url, lost_after=lost_after)
    ingest, admin = server.token("ingest"), server.token("admin")
    server.start()
    api = Api(server.url, admin)
    workdir = sandbox.root / "gated"
    gated_workflow(workdir, [1, 1])  # the gate of phase 1 is never opened: Snakemake waits
    env = dict(sandbox.env, FLOWO_TOKEN=ingest)
    args = [
        "--cores",
        "2",
        "--logger-flowo-url",
        server.url,
        "--logger-flowo-heartbeat-interval",
        "1",
    ]
    proc = snakemake(workdir, args, env=env)
    run_id = proc.run_id()

    def gate_running():
        try:
            jobs = api.jobs(run_id)
        except AssertionError:
            return None
        gates = [j for j in jobs if j["rule"] == "gate" and j["status"] == "running"]
        return gates[0] if gates else None

    gate = wait_for("the gate job running in the store", gate_running)
    started = parse_time(gate["started_at"])

    # Snakemake says nothing while the gate job waits; heartbeats alone keep the run alive past
    # lost_after.
    def beats_past_timeout():
        beats = api.events(run_id, kinds="heartbeat")
        if (
            beats
            and (parse_time(beats[-1]["recorded_at"]) - started).total_seconds() > lost_after + 1
        ):
            return beats
        return None

    wait_for("heartbeats beyond lost_after", beats_past_timeout)
    run = api.run(run_id)
    assert run["status"] == "running", (run["status"], age(run))

    proc.processes.kill_group(proc.proc)  # SIGKILL to Snakemake and its job
    assert proc.proc.returncode == -signal.SIGKILL
    run = api.run(run_id)
    if age(run) < lost_after - 1:
        assert run["status"] == "running", (run["status"], age(run))

    def lost():
        run = api.run(run_id)
        return run if run["status"] == "lost" else None

    run = wait_for("the run to read as lost", lost)
    assert age(run) >= lost_after, "not lost before lost_after"
    jobs = {j["rule"]: j["status"] for j in api.jobs(run_id)}
    assert jobs["gate"] == "incomplete", jobs
    assert jobs["step"] == "succeeded", jobs
    assert_every_event_once(api, run_id, finished=False)
