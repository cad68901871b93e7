"""Every captured scenario in shared/fixtures/snakemake-events, re-run live with
`snakemake --logger flowo --cores 2` in a scratch copy of its folder, recorded into the embedded
store (no settings at all) and into a real `flowo serve` on PostgreSQL (url setting plus an
ingest token in FLOWO_TOKEN). The stored run, rules, jobs, errors and events must equal what
Snakemake did in that very run (read from its console output) and what the capture's manifest
says about it.

The captures sent signals after 2.5 s; here the signal goes once the store shows the state the
capture had at that moment (`fast` done, `slow` running), so the outcome does not depend on
the machine's speed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import (
    FIXTURES,
    Api,
    Sandbox,
    SnakemakeResult,
    assert_every_event_once,
    console_jobs,
    wait_for,
)

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CAPTURES = {Path(c["capture"]).stem: c for c in MANIFEST["captures"]}
# Captures whose job list depends on scheduling races: without --keep-going, how many jobs
# start before the failure is seen varies from run to run.
RACY = {"02-job-failure"}
OUTCOME = {"succeeded": "completed", "failed": "failed", "interrupted": "interrupted"}
SIGNALS = {"KILL": signal.SIGKILL, "INT": signal.SIGINT, "TERM": signal.SIGTERM}


@dataclass
class Step:
    """One Snakemake invocation of a scenario: a capture's command, or a helper command."""

    capture: str | None
    args: list[str] = field(default_factory=list)
    before: Callable[[Path], None] | None = None
    logger: bool = True

    def __post_init__(self) -> None:
        if self.capture:
            words = CAPTURES[self.capture]["command"].split()
            assert words[:3] == ["snakemake", "--logger", "capture"], words
            self.args = words[3:]

    @property
    def signal(self) -> int | None:
        sig = self.capture and CAPTURES[self.capture]["signal"]
        return SIGNALS[sig.split("@")[0]] if sig else None


def append_eta(workdir: Path) -> None:
    # As run-all.sh did before capture 13: Snakemake 9 re-runs on changed content, not mtime.
    with open(workdir / "data" / "A.txt", "a") as f:
        f.write("eta\n")


SCENARIOS: dict[str, tuple[str, list[Step]]] = {
    "01-success": ("success", [Step("01-success")]),
    "02-job-failure": ("job-failure", [Step("02-job-failure")]),
    "03-job-failure-keep-going": ("job-failure", [Step("03-job-failure-keep-going")]),
    "05-syntax-error": ("syntax-error", [Step("05-syntax-error")]),
    "06-missing-input": ("missing-input", [Step("06-missing-input")]),
    "07-parse-exception": ("parse-exception", [Step("07-parse-exception")]),
    "09-dryrun": ("success", [Step("09-dryrun")]),
    "10-large": ("large", [Step("10-large")]),
    # 11-13 share one working directory after an uncaptured first run (as 01).
    "11-13-reruns": (
        "success",
        [
            Step(None, args=["--cores", "2"]),
            Step("11-forceall"),
            Step("12-up-to-date"),
            Step("13-partial-rerun", before=append_eta),
        ],
    ),
    # 14-17 share one working directory: killed, incomplete, stale lock, unlock, rerun.
    "14-17-killed-and-rerun": (
        "incomplete",
        [
            Step("14-killed"),
            Step("15-incomplete-error"),
            Step("16-locked"),
            Step(None, args=["--unlock", "--cores", "1"], logger=False),
            Step("17-rerun-incomplete"),
        ],
    ),
    "18-interrupted-sigint": ("incomplete", [Step("18-interrupted-sigint")]),
    "19-terminated-sigterm": ("incomplete", [Step("19-terminated-sigterm")]),
    "20-debug-dag-dryrun": ("success", [Step("20-debug-dag-dryrun")]),
    "21-verbose": ("success", [Step("21-verbose")]),
}


def test_every_capture_has_a_scenario():
    covered = {s.capture for _, steps in SCENARIOS.values() for s in steps if s.capture}
    assert covered == set(CAPTURES)


class Backend:
    """Where the plugin records, and how the test reads it back."""

    name: str
    target: str
    env: dict[str, str]
    args: list[str]

    def api(self) -> Api:
        raise NotImplementedError


class Embedded(Backend):
    """No settings: the plugin writes $FLOWO_DATA_DIR/flowo.db; `flowo serve` without
    --database-url reads the same file (started on first read, so the plugin makes the store)."""

    name = "embedded"

    def __init__(self, sandbox: Sandbox, make_server) -> None:
        self.env = dict(sandbox.env)
        self.args = []
        self.target = f"sqlite://{sandbox.data_dir}/flowo.db"
        self.make_server = make_server
        self._api: Api | None = None

    def api(self) -> Api:
        if self._api is None:
            server = self.make_server(None)
            token = server.token("admin")
            server.start()
            self._api = Api(server.url, token)
        return self._api


class Postgres(Backend):
    """`flowo serve` on a fresh PostgreSQL database; the plugin gets its URL as a setting and an
    ingest token in FLOWO_TOKEN."""

    name = "postgres"

    def __init__(self, sandbox: Sandbox, make_server, pg_url: str) -> None:
        server = make_server(pg_url)
        ingest = server.token("ingest")
        admin = server.token("admin")
        server.start()
        self.env = dict(sandbox.env, FLOWO_TOKEN=ingest)
        self.args = ["--logger-flowo-url", server.url]
        self.target = server.url
        self._api = Api(server.url, admin)

    def api(self) -> Api:
        return self._api


@pytest.fixture(params=["embedded", "postgres"])
def backend(request, sandbox: Sandbox, make_server) -> Backend:
    if request.param == "embedded":
        return Embedded(sandbox, make_server)
    return Postgres(sandbox, make_server, request.getfixturevalue("pg_url"))


def capture_errors(capture: str) -> set[str]:
    """The exceptions of the `error` records Snakemake sent in the capture."""
    path = FIXTURES / CAPTURES[capture]["capture"]
    out = set()
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "error":
            out.add(record.get("exception"))
    return out


def expected_status(step: Step, rc: int) -> str:
    if step.signal == signal.SIGKILL:
        return "running"  # no close(): the run reads as running until it is lost
    if step.signal in (signal.SIGINT, signal.SIGTERM):
        return "interrupted"
    return "succeeded" if rc == 0 else "failed"


def wait_until_slow_runs(api: Api, run_id: str) -> None:
    """Until the store shows what the captures had when the signal came: `fast` succeeded (with
    the progress record Snakemake sends after it: a SIGKILL loses whatever the plugin had not
    delivered yet, and that record may come in a later batch than the jobs) and `slow`
    running."""

    def ready():
        try:
            jobs = {j["rule"]: j["status"] for j in api.jobs(run_id)}
            done = api.run(run_id)["done"]
        except AssertionError:  # the run is not stored yet
            return False
        return jobs.get("fast") == "succeeded" and jobs.get("slow") == "running" and done >= 1

    wait_for("`slow` running and `fast` done in the store", ready)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(scenario: str, backend: Backend, sandbox: Sandbox, snakemake, snakemake_version):
    folder, steps = SCENARIOS[scenario]
    workdir = sandbox.workdir(folder, scenario)
    run_ids = []
    for step in steps:
        if step.before:
            step.before(workdir)
        args = list(step.args)
        env = backend.env
        if step.logger:
            args += backend.args
        if step.capture == "01-success":
            args, env = with_labels(args, env, backend)
        proc = snakemake(workdir, args, env=env, logger=step.logger)
        if step.signal:
            run_id = proc.run_id()
            wait_until_slow_runs(backend.api(), run_id)
            proc.signal(step.signal)
        result = proc.wait()
        if not step.logger:
            assert result.rc == 0, result.describe()
            assert result.run_id is None, result.describe()
            continue
        check_step(step, result, backend, workdir)
        run_ids.append(result.run_id)
        if step.capture == "01-success":
            check_extras(result, backend, workdir, snakemake_version)
    stored = {r["id"] for r in backend.api().runs()}
    assert stored == set(run_ids), "the store holds exactly the runs Snakemake made"


def with_labels(args: list[str], env: dict[str, str], backend: Backend):
    """Labels as flags for the embedded store, as environment variables for the server."""
    labels = {"name": "diamond ✓", "tags": "alpha,beta", "description": "labelled by the test"}
    if backend.name == "embedded":
        for key, value in labels.items():
            args = args + [f"--logger-flowo-{key}", value]
    else:
        env = dict(env, **{f"SNAKEMAKE_LOGGER_FLOWO_{k.upper()}": v for k, v in labels.items()})
    return args, env


def check_step(step: Step, result: SnakemakeResult, backend: Backend, workdir: Path) -> None:
    capture = step.capture
    manifest = CAPTURES[capture] if capture else None
    where = f"[{capture or ' '.join(step.args)} on {backend.name}]"
    if manifest:
        assert result.rc == manifest["exit_code"], f"{where} exit code\n{result.describe()}"
    assert result.run_id, f"{where} no `recording run` line\n{result.describe()}"
    assert result.target == backend.target, where
    assert not result.warnings, f"{where} {result.warnings}"
    assert not result.undelivered, f"{where} {result.flowo_lines}"
    assert "snakemake_logger_plugin_flowo" not in result.output, f"{where}\n{result.describe()}"
    killed = step.signal == signal.SIGKILL
    api = backend.api()
    run = api.run(result.run_id)
    status = expected_status(step, result.rc)
    assert run["status"] == status, f"{where} status\n{result.describe()}"
    dry = "-n" in step.args
    assert run["dry_run"] is dry, where

    events = assert_every_event_once(api, result.run_id, finished=not killed)
    if killed:
        assert result.stats is None, "close() cannot run after SIGKILL"
        assert all(e["kind"] != "run_finished" for e in events)
    else:
        finished = events[-1]["data"]
        assert finished.get("outcome") == OUTCOME[status], f"{where} {finished}"
        assert result.stats is not None, f"{where} FLOWO_PLUGIN_STATS was not written"
        assert result.stats["events"] == run["event_count"], f"{where} {result.stats}"
        assert result.stats["delivered"] == result.stats["events"], f"{where} {result.stats}"
        assert 1 <= result.stats["deliveries"] <= result.stats["events"], result.stats
        assert result.stats["spooled"] == 0 and result.stats["dropped"] == 0, result.stats

    # Jobs: exactly those Snakemake printed, each in the state its console output shows.
    console = console_jobs(result.output)
    jobs = {j["job_id"]: j for j in api.jobs(result.run_id)}
    assert set(jobs) == set(console.started), f"{where} job ids\n{result.describe()}"
    for job_id, rule in console.started.items():
        if rule is not None:
            assert jobs[job_id]["rule"] == rule, f"{where} job {job_id}"
    for job_id, job in jobs.items():
        if dry:
            want = "planned"
        elif job_id in console.failed:
            want = "failed"
        elif job_id in console.finished:
            want = "succeeded"
        else:
            want = "running" if killed else "incomplete"
        assert job["status"] == want, f"{where} job {job_id} ({job['rule']})\n{result.describe()}"
    counts = {s: 0 for s in ("running", "succeeded", "failed", "incomplete", "planned")}
    for job in jobs.values():
        counts[job["status"]] += 1
    assert run["jobs"] == counts, where

    # The manifest's counts, where the scenario is deterministic.
    if manifest and capture not in RACY:
        ev = manifest["events"]
        assert len(jobs) == ev.get("job_info", 0), f"{where} job count"
        assert counts["succeeded"] == ev.get("job_finished", 0), where
        assert counts["failed"] == ev.get("job_error", 0), where
    failed_rules = {jobs[j]["rule"] for j in console.failed}
    if manifest and manifest["events"].get("job_error"):
        assert failed_rules == {"process"} and len(console.failed) == 1, where
        (failed,) = console.failed
        assert jobs[failed]["detail"]["wildcards"] == {"sample": "B"}, where

    # Progress and the plan.
    planned_total = sum(console.stats.values())
    assert run["total"] == planned_total, f"{where} total"
    assert run["done"] == (0 if dry else len(console.finished)), f"{where} done"
    rules = {r["rule"]: r for r in api.rules(result.run_id)}
    assert {r: s["planned"] for r, s in rules.items() if s.get("planned") is not None} == (
        console.stats
    ), f"{where} planned per rule"
    for rule, summary in rules.items():
        mine = [j for j in jobs.values() if j["rule"] == rule]
        assert summary["jobs"]["succeeded"] == sum(j["status"] == "succeeded" for j in mine)
        assert summary["jobs"]["failed"] == sum(j["status"] == "failed" for j in mine)

    # Errors: the exceptions Snakemake reported in the capture, the job-level one on its job.
    errors = api.errors(result.run_id)
    assert run["error_count"] == len(errors), where
    if manifest:
        assert {e["exception"] for e in errors} == capture_errors(capture), f"{where} {errors}"
    for error in errors:
        if error["exception"] == "RuleException":
            assert error["scope"] == "job" and error["rule"] == "process", error
            assert error["job_id"] in console.failed, error


def check_extras(result: SnakemakeResult, backend: Backend, workdir: Path, snakemake_version: str):
    """What the plugin adds to Snakemake's events, on the `success` workflow."""
    api = backend.api()
    run_id = result.run_id
    real = os.path.realpath

    (labels,) = api.events(run_id, kinds="run_labels")
    assert labels["data"]["name"] == "diamond ✓"
    assert labels["data"]["tags"] == ["alpha", "beta"]
    assert labels["data"]["description"] == "labelled by the test"
    assert labels["data"]["dry_run"] is False
    run = api.run(run_id)
    assert (run["name"], run["tags"], run["description"]) == (
        "diamond ✓",
        ["alpha", "beta"],
        "labelled by the test",
    )

    (context,) = api.events(run_id, kinds="run_context")
    ctx = context["data"]
    assert ctx["host"] == socket.gethostname()
    assert ctx["snakemake_version"] == snakemake_version
    assert "--logger flowo" in ctx["command_line"] and "snakemake" in ctx["command_line"]
    assert real(ctx["workdir"]) == real(workdir)
    assert ctx["user"]
    assert ctx["python_version"].startswith("3.")
    assert ctx["platform"]
    from importlib import metadata

    assert ctx["plugin_version"] == metadata.version("snakemake-logger-plugin-flowo")
    # The run itself shows where and how it ran, whatever Snakemake's own events carry.
    assert run["host"] == socket.gethostname()
    assert run["snakemake_version"] == snakemake_version
    assert "--logger flowo" in run["command_line"]
    assert real(run["workdir"]) == real(workdir)

    sources = api.events(run_id, kinds="run_source")
    snakefiles = [s["data"] for s in sources if s["data"]["role"] == "snakefile"]
    assert len(snakefiles) == 1, sources
    (snakefile,) = snakefiles
    text = (workdir / "Snakefile").read_text()
    assert real(workdir / snakefile["path"]) == real(workdir / "Snakefile")
    assert snakefile["text"] == text
    assert snakefile["size"] == len(text.encode())
    assert snakefile["truncated"] is False

    jobs = {j["job_id"]: j for j in api.jobs(run_id)}
    logs = {e["data"]["job_id"]: e["data"] for e in api.events(run_id, kinds="job_logs")}
    with_logs = {j for j, job in jobs.items() if job["detail"]["log"]}
    assert set(logs) == with_logs and len(with_logs) == 8, logs
    for job_id, entry in logs.items():
        job = jobs[job_id]
        assert [real(workdir / f["path"]) for f in entry["files"]] == [
            real(workdir / p) for p in job["detail"]["log"]
        ]
        for f in entry["files"]:
            content = (workdir / f["path"]).read_text()
            assert (f["text"], f["size"], f["truncated"]) == (content, len(content.encode()), False)
    (make_ref,) = [j for j, job in jobs.items() if job["rule"] == "make_ref"]
    assert logs[make_ref]["files"][0]["text"] == "ref built\n"

    benchmarks = {e["data"]["job_id"]: e["data"] for e in api.events(run_id, kinds="job_benchmark")}
    with_bench = {j for j, job in jobs.items() if job["detail"]["benchmark"]}
    assert set(benchmarks) == with_bench and len(with_bench) == 7, benchmarks
    for job_id, bench in benchmarks.items():
        path = workdir / jobs[job_id]["detail"]["benchmark"]
        assert real(workdir / bench["path"]) == real(path)
        header, values = [line.split("\t") for line in path.read_text().splitlines()[:2]]
        expected_s = float(values[header.index("s")])
        assert math.isclose(float(bench["values"]["s"]), expected_s, abs_tol=1e-6), bench
        assert "max_rss" in bench["values"], bench


def test_without_logger_flowo_nothing_is_recorded(sandbox: Sandbox, snakemake):
    """Installed but not chosen with --logger, the plugin leaves Snakemake alone."""
    workdir = sandbox.workdir("success", "plain")
    result = snakemake(workdir, ["--cores", "1", "-n"], logger=False).wait()
    assert result.rc == 0, result.describe()
    assert result.flowo_lines == []
    assert not (sandbox.data_dir / "flowo.db").exists()
