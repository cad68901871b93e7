#!/usr/bin/env python3
"""Live latency: from `emit()` in Snakemake to the event arriving at an SSE client, through
`flowo serve` on PostgreSQL, on loopback.

A generated workflow of trivial jobs (`--cores 2`) runs with `--logger flowo` reporting to a
real `flowo serve` on a fresh PostgreSQL database, while one client follows
`GET /api/v1/stream`. Every event carries `recorded_at`, the time the plugin took the record
from Snakemake (the `LogRecord`'s creation time); the client notes when it arrives. Both clocks
are this machine's, so arrival - recorded_at is the whole path: the plugin's batching (flush
interval 0.05 s), the POST, the store's commit, the notification and the server's fan-out.

Prints p50 / p99 / max over every event of the run and, with FLOWO_BENCH_FIGURES set, writes
them as figures for `cargo xtask bench`. Never fails on a figure; it is not run by the tests.

    ~/.cache/flowo/venv-snakemake-9-newest/bin/python flowo-py/benches/live.py [--quick]

Environment: FLOWO_BIN (default: the release binary in CARGO_TARGET_DIR or
~/.cache/flowo/target), FLOWO_TEST_DATABASE_URL (the PostgreSQL server; default
postgres://postgres@127.0.0.1:5432/postgres; a database is created and dropped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import figures

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PG_ADMIN = os.environ.get("FLOWO_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
P50_TARGET_MS = 100.0
P99_TARGET_MS = 250.0


def flowo_bin() -> Path:
    if os.environ.get("FLOWO_BIN"):
        return Path(os.environ["FLOWO_BIN"])
    cache = Path(os.environ.get("FLOWO_CACHE", Path.home() / ".cache/flowo"))
    return Path(os.environ.get("CARGO_TARGET_DIR", cache / "target")) / "release" / "flowo"


def psql(sql: str) -> None:
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", PG_ADMIN, "-c", sql],
                   check=True, capture_output=True, timeout=60)  # fmt: skip


def workflow(dir: Path, jobs: int) -> None:
    dir.mkdir(parents=True)
    (dir / "Snakefile").write_text(
        f"""
rule all:
    input: expand("out/{{i}}.txt", i=range({jobs}))

rule step:
    output: "out/{{i}}.txt"
    shell: "touch {{output}}"
"""
    )


class Stream(threading.Thread):
    """One SSE connection; notes each event's arrival time."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.req = urllib.request.Request(
            f"{url}/api/v1/stream",
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        )
        self.opened = threading.Event()
        self.arrivals: list[tuple[float, dict]] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        with urllib.request.urlopen(self.req, timeout=600) as resp:
            name, data = None, []
            for raw in resp:
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if name == "ready":
                        self.opened.set()
                    elif data:
                        event = json.loads("\n".join(data))["event"]
                        with self.lock:
                            self.arrivals.append((time.time(), event))
                    name, data = None, []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())

    def of_run(self, run_id: str) -> list[tuple[float, dict]]:
        with self.lock:
            return [(t, e) for t, e in self.arrivals if e["run_id"] == run_id]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 jobs instead of 1,000")
    parser.add_argument("--flush-interval", type=float, metavar="S",
                        help="the plugin's flush interval in seconds (default: the plugin's own)")  # fmt: skip
    opts = parser.parse_args()
    jobs = 200 if opts.quick else 1000
    flowo = flowo_bin()
    if not flowo.exists() or not SNAKEMAKE.exists() or not shutil.which("psql"):
        sys.exit(f"needs {flowo}, {SNAKEMAKE} and psql (scripts/py-env.sh; postgresql-client)")

    base = Path(tempfile.mkdtemp(prefix="flowo-live-"))
    db = f"flowo_bench_live_{secrets.token_hex(4)}"
    db_url = urllib.parse.urlunsplit(urllib.parse.urlsplit(PG_ADMIN)._replace(path=f"/{db}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWO_", "SNAKEMAKE_"))}
    env.update(HOME=str(base / "home"), XDG_CONFIG_HOME=str(base / "config"),
               FLOWO_DATA_DIR=str(base / "data"), FLOWO_DATABASE_URL=db_url)  # fmt: skip
    server = None
    psql(f'CREATE DATABASE "{db}"')
    try:
        admin = lambda *a: subprocess.run([str(flowo), *a], env=env, check=True,  # noqa: E731
                                          capture_output=True, text=True).stdout  # fmt: skip
        admin("user", "create", "bench@flowo.test", "--role", "admin")
        token = admin("token", "create", "--user", "bench@flowo.test", "--name", "bench",
                      "--scope", "admin").strip().splitlines()[-1]  # fmt: skip
        server = subprocess.Popen(
            [str(flowo), "serve", "--bind", "127.0.0.1:0"],
            env=dict(env, FLOWO_JWT_SECRET=secrets.token_hex(32)),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,  # fmt: skip
        )
        url = None
        for line in server.stdout:
            if m := re.search(r"FlowO is ready.*?(http://127\.0\.0\.1:\d+)", line):
                url = m.group(1)
                break
        if url is None:
            sys.exit("flowo serve printed no ready line")
        stream = Stream(url, token)
        stream.start()
        if not stream.opened.wait(30):
            sys.exit("the live stream did not open")

        work = base / "work"
        workflow(work, jobs)
        print(f"FlowO live latency: {jobs} touch jobs + all, --cores 2, flowo serve on "
              f"PostgreSQL, 1 SSE client", flush=True)  # fmt: skip
        run_env = dict(env, FLOWO_URL=url, FLOWO_TOKEN=token)
        run_env.pop("FLOWO_DATABASE_URL")
        flush = [] if opts.flush_interval is None else [
            "--logger-flowo-flush-interval", str(opts.flush_interval)]
        out = subprocess.run([str(SNAKEMAKE), "--logger", "flowo", "--cores", "2", "--quiet", *flush],
                             cwd=work, env=run_env, capture_output=True, text=True)  # fmt: skip
        run_id = next((m.group(1) for m in re.finditer(r"recording run (\S+)", out.stderr)), None)
        if out.returncode != 0 or run_id is None:
            sys.exit(f"snakemake failed ({out.returncode}):\n{out.stderr[-2000:]}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(e["kind"] == "run_finished" for _, e in stream.of_run(run_id)):
                break
            time.sleep(0.05)
        got = stream.of_run(run_id)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(base, ignore_errors=True)

    lat = [
        (t - dt.datetime.fromisoformat(e["recorded_at"].replace("Z", "+00:00")).timestamp()) * 1e3
        for t, e in got
    ]
    if not lat:
        sys.exit("no event of the run arrived")
    p50, p99, mx = pct(lat, 50), pct(lat, 99), max(lat)
    print(f"events received: {len(lat)}; emit -> SSE: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"max {mx:.1f} ms, mean {statistics.fmean(lat):.1f} ms "
          f"(targets: p50 <= {P50_TARGET_MS:.0f}, p99 <= {P99_TARGET_MS:.0f})")  # fmt: skip
    # Where the time goes: up to the server's receipt of the POST (`received_at`: the plugin's
    # batching and the request), and from there to the client (commit, notification, fan-out).
    def stamp(text: str) -> float:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    split = [
        ((stamp(e["received_at"]) - stamp(e["recorded_at"])) * 1e3, (t - stamp(e["received_at"])) * 1e3)
        for t, e in got
        if e.get("received_at")
    ]
    if split:
        before, after = [b for b, _ in split], [a for _, a in split]
        print(f"  of which emit -> server received: p50 {pct(before, 50):.1f}, p99 {pct(before, 99):.1f} ms; "
              f"received -> SSE: p50 {pct(after, 50):.1f}, p99 {pct(after, 99):.1f} ms")  # fmt: skip
    note = f"{jobs}-job run, {len(lat)} events, emit() to arrival at an SSE client"
    figures.record("live.emit_to_sse.p50", p50, "ms", P50_TARGET_MS, "lower", note)
    figures.record("live.emit_to_sse.p99", p99, "ms", P99_TARGET_MS, "lower", note)


if __name__ == "__main__":
    main()
