#!/usr/bin/env python3
"""Soak test: FlowO under a sustained, realistic load for a set time, checking that nothing is
lost and that the server's memory stays flat.

The set-up is the team deployment: a fresh PostgreSQL database, two `flowo serve` replicas
(the release binary) and Debian's caddy in front of them with deploy/Caddyfile. Through Caddy:

- `--runs` Snakemake processes (default 5) run a trivial workflow of `--jobs` jobs each
  (default 2,000) with `--logger flowo`, each started again when it ends, until `--minutes`
  have passed (default 10);
- `--clients` live-stream clients (default 200) follow `/api/v1/stream`, each reconnecting
  with Last-Event-ID if its stream ends. They are the dashboards of several people: viewers
  of the default workspace with `--clients-per-user` streams each (default 16, half of the
  server's 32 streams per user, so that even all of one user's streams on one replica fit).

Every `--sample` seconds the replicas' resident memory is read from /proc. At the end:

- every Snakemake process exited 0 and its plugin delivered every event (nothing dropped or
  left in the spool);
- every run is stored exactly once (sequence numbers 0..N-1, N the plugin's count) and reads
  `succeeded` with all its jobs;
- every stream client received every event of every run, once, in stream order;
- each replica's memory after the warm-up (`--warmup` seconds) stayed within ±10 % of its
  mean over that time.

It prints the figures and exits 1 if any check failed. Run it with a venv that has Snakemake
and the plugin wheel installed (scripts/soak.sh makes and uses the test venv).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CADDYFILE = REPO / "deploy" / "Caddyfile"
RUN = re.compile(r"^flowo: recording run ([0-9a-f-]{36}) to ", re.M)
# The start of a live message: {"event":{"pos":..,"workspace_id":..,"run_id":..,"seq":..,...
HEAD = re.compile(r'\{"event":\{"pos":\d+,"workspace_id":"[^"]*","run_id":"([^"]+)","seq":(\d+)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: gave up waiting for {what}")
        time.sleep(0.1)


def get(url: str, token: str | None = None, timeout: float = 30):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        body = r.read()
        return json.loads(body) if r.headers.get_content_type() == "application/json" else body


def ok(url: str) -> bool:
    try:
        get(url, timeout=5)
        return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Stream(threading.Thread):
    """An EventSource-like client: keeps every event's position and (run, seq)."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.last_id: str | None = None
        self.events: list[tuple[int, str, int]] = []
        self.connections = 0
        self.opened = threading.Event()
        self.stopping = threading.Event()
        self.problems: list[str] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            req = urllib.request.Request(f"{self.base}/api/v1/stream", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    self.connections += 1
                    self._read(resp)
            except urllib.error.HTTPError as e:
                self.problems.append(f"stream answered {e.code}")
                if e.code < 500:
                    return
            except (urllib.error.URLError, ConnectionError, OSError, TimeoutError) as e:
                if not self.stopping.is_set():
                    self.problems.append(f"stream cut: {e}")
            time.sleep(0.2)

    def _read(self, resp) -> None:
        name, eid, data = None, None, []
        for raw in resp:
            if self.stopping.is_set():
                return
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if eid is not None:
                    self.last_id = eid
                if name == "ready":
                    self.opened.set()
                elif data:
                    text = "\n".join(data)
                    head = HEAD.match(text)
                    if head:
                        run, seq = sys.intern(head.group(1)), int(head.group(2))
                    else:
                        event = json.loads(text)["event"]
                        run, seq = sys.intern(event["run_id"]), event["seq"]
                    self.events.append((int(eid), run, seq))
                name, eid, data = None, None, []
            elif line.startswith(":"):
                continue
            else:
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if key == "event":
                    name = value
                elif key == "id":
                    eid = value
                elif key == "data":
                    data.append(value)


def client_worker(conn, site: str, tokens: list[str]) -> None:
    """A process holding some of the stream clients (so that parsing them is not held up by
    one interpreter's lock). Says "open" once all are open; then waits for the expected events
    ({run: count}) and a time limit, lets the clients catch up, and answers one summary per
    client."""
    streams = [Stream(site, t) for t in tokens]
    for st in streams:
        st.start()
    for st in streams:
        if not st.opened.wait(120):
            conn.send("a stream client did not open")
            return
    conn.send("open")
    expected, catch_up = conn.recv()
    total = sum(expected.values())
    deadline = time.monotonic() + catch_up
    for st in streams:
        while len(st.events) < total and time.monotonic() < deadline:
            time.sleep(0.2)
        st.stopping.set()
    summaries = []
    for st in streams:
        got = [(r, q) for _, r, q in st.events if r in expected]
        unique = set(got)
        complete = all(0 <= q < expected[r] for r, q in unique) and len(unique) == total
        ids = [pos for pos, _, _ in st.events]
        summaries.append(dict(
            received=len(st.events), unique=len(unique), repeated=len(got) - len(unique),
            complete=complete, ordered=ids == sorted(set(ids)),
            connections=st.connections, problems=st.problems))
    conn.send(summaries)


def workflow(workdir: Path, jobs: int) -> None:
    workdir.mkdir(parents=True)
    (workdir / "Snakefile").write_text(
        f"""
rule all:
    input: expand("out/{{i}}.txt", i=range({jobs}))

rule step:
    output: "out/{{i}}.txt"
    shell: "echo {{wildcards.i}} > {{output}}"
"""
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--runs", type=int, default=5, help="concurrent Snakemake processes")
    ap.add_argument("--jobs", type=int, default=2000, help="jobs per workflow")
    ap.add_argument("--clients", type=int, default=200, help="live-stream clients")
    ap.add_argument("--client-processes", type=int, default=4,
                    help="processes the stream clients are spread over")
    ap.add_argument("--catch-up", type=float, default=300,
                    help="seconds the clients may take after the last run to have every event")
    ap.add_argument("--clients-per-user", type=int, default=16,
                    help="live-stream clients of each viewer (at most the server's 32 per user)")
    ap.add_argument("--warmup", type=float, default=120, help="seconds before memory counts")
    ap.add_argument("--sample", type=float, default=5, help="seconds between memory samples")
    ap.add_argument("--flowo", default=os.environ.get("FLOWO_BIN", "flowo"))
    ap.add_argument(
        "--database",
        default=os.environ.get("FLOWO_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL admin URL; a fresh database is made on it and dropped afterwards",
    )
    args = ap.parse_args()
    snakemake = Path(sys.executable).parent / "snakemake"
    for tool in ("caddy", "psql"):
        if shutil.which(tool) is None:
            raise SystemExit(f"soak: {tool} is not installed")

    root = Path(tempfile.mkdtemp(prefix="flowo-soak-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWO_", "SNAKEMAKE_"))}
    env.update(FLOWO_DATA_DIR=str(root / "data"), HOME=str(root), XDG_CONFIG_HOME=str(root / "cfg"))
    name = f"flowo_soak_{os.getpid()}"
    admin = args.database
    subprocess.run(["psql", "-X", "-q", admin, "-c", f"CREATE DATABASE {name}"], check=True)
    db = urllib.parse.urlunsplit(urllib.parse.urlsplit(admin)._replace(path=f"/{name}"))
    procs: list[subprocess.Popen] = []
    failures: list[str] = []
    try:
        flowo = [args.flowo, "--database-url", db]
        subprocess.run([*flowo, "user", "create", "soak@flowo.test", "--role", "admin"],
                       env=env, check=True, capture_output=True)

        def token(scope: str, user: str = "soak@flowo.test") -> str:
            out = subprocess.run(
                [*flowo, "token", "create", "--user", user, "--name", scope,
                 "--scope", scope], env=env, check=True, capture_output=True, text=True)
            return out.stdout.strip().splitlines()[-1].strip()

        ingest, reader = token("ingest"), token("read")
        viewers = []
        per_user = max(1, args.clients_per_user)
        for v in range(-(-args.clients // per_user)):
            email = f"viewer-{v}@flowo.test"
            subprocess.run([*flowo, "user", "create", email, "--role", "viewer"],
                           env=env, check=True, capture_output=True)
            subprocess.run([*flowo, "workspace", "add-member", "default", email],
                           env=env, check=True, capture_output=True)
            viewers.append(token("read", email))
        replicas = []
        for i in range(2):
            port = free_port()
            log = open(root / f"serve-{i}.log", "w")
            p = subprocess.Popen(
                [*flowo, "serve", "--bind", f"127.0.0.1:{port}", "--lost-after", "3600"],
                env=env, stdout=log, stderr=subprocess.STDOUT)
            procs.append(p)
            replicas.append((p, port))
        for _, port in replicas:
            wait_for("a replica", lambda: ok(f"http://127.0.0.1:{port}/readyz"))
        site = f"http://127.0.0.1:{free_port()}"
        caddy_env = dict(env, FLOWO_SITE=site, CADDY_ADMIN="off",
                         FLOWO_UPSTREAMS=" ".join(f"127.0.0.1:{p}" for _, p in replicas))
        procs.append(subprocess.Popen(
            ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            env=caddy_env, cwd=root, stdout=open(root / "caddy.log", "w"), stderr=subprocess.STDOUT))
        wait_for("caddy", lambda: ok(f"{site}/readyz"))

        # The clients live in --client-processes processes, a share of them each.
        ctx = multiprocessing.get_context("fork")
        tokens = [viewers[i // per_user] for i in range(args.clients)]
        workers = []
        for w in range(max(1, args.client_processes)):
            share = tokens[w::max(1, args.client_processes)]
            if not share:
                continue
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=client_worker, args=(child, site, share), daemon=True)
            proc.start()
            workers.append((proc, parent))
        for proc, conn in workers:
            if not conn.poll(180) or conn.recv() != "open":
                raise SystemExit("soak: a stream client did not open")
        print(f"soak: {args.clients} stream clients open; runs start", flush=True)

        start = time.monotonic()
        end = start + args.minutes * 60
        samples: list[tuple[float, list[int]]] = []
        finished: list[dict] = []
        slots: list[subprocess.Popen | None] = [None] * args.runs
        slot_info: list[dict] = [{} for _ in range(args.runs)]
        counter = 0
        next_sample = start
        run_env = dict(env, FLOWO_URL=site, FLOWO_TOKEN=ingest)
        while True:
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - start, [rss_kib(p.pid) for p, _ in replicas]))
                next_sample += args.sample
            for i, p in enumerate(slots):
                if p is not None and p.poll() is not None:
                    info = slot_info[i]
                    out = info["log"].read_text()
                    stats = info["stats"]
                    run = RUN.search(out)
                    finished.append(dict(
                        rc=p.returncode, log=str(info["log"]),
                        stats=json.loads(stats.read_text()) if stats.exists() else None,
                        run_id=run.group(1) if run else None,
                        undelivered=" not delivered to " in out))
                    slots[i] = None
                if slots[i] is None and now < end:
                    counter += 1
                    wd = root / "work" / str(counter)
                    workflow(wd, args.jobs)
                    log = root / f"snakemake-{counter}.log"
                    stats = root / f"snakemake-{counter}.stats.json"
                    # FLOWO_PLUGIN_STATS: the plugin writes its counts (events, dropped) there.
                    slots[i] = subprocess.Popen(
                        [str(snakemake), "--logger", "flowo", "--cores", "1"],
                        cwd=wd, env=dict(run_env, FLOWO_PLUGIN_STATS=str(stats)),
                        stdout=open(log, "w"), stderr=subprocess.STDOUT)
                    slot_info[i] = {"log": log, "stats": stats}
            if now >= end and all(p is None for p in slots):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - start

        # Checks.
        api = f"{site}/api/v1"
        total_events = 0
        for f in finished:
            if f["rc"] != 0:
                failures.append(f"snakemake exited {f['rc']} ({f['log']})")
                continue
            if f["stats"] is None or f["run_id"] is None:
                failures.append(f"no plugin summary in {f['log']}")
                continue
            if f["stats"].get("dropped", 0) or f["undelivered"]:
                failures.append(f"events dropped or spooled: {f['stats']} ({f['log']})")
            run = get(f"{api}/runs/{f['run_id']}", reader)
            seqs, after = [], None
            while True:
                q = f"?limit=1000" + (f"&after_seq={after}" if after is not None else "")
                page = get(f"{api}/runs/{f['run_id']}/events{q}", reader)
                if not page:
                    break
                seqs += [e["seq"] for e in page]
                after = page[-1]["seq"]
            n = f["stats"]["events"]
            if seqs != list(range(n)) or run["event_count"] != n:
                failures.append(f"run {f['run_id']}: stored {len(seqs)} events, sent {n}")
            if run["status"] != "succeeded" or run["jobs"]["succeeded"] != args.jobs + 1:
                failures.append(f"run {f['run_id']}: {run['status']} {run['jobs']}")
            total_events += n
        expected = {f["run_id"]: f["stats"]["events"] for f in finished
                    if f["run_id"] and f["stats"]}
        catch_up_from = time.monotonic()
        for _, conn in workers:
            conn.send((expected, args.catch_up))
        summaries = []
        for proc, conn in workers:
            summaries += conn.recv() if conn.poll(args.catch_up + 300) else []
            proc.join(timeout=30)
        catch_up = time.monotonic() - catch_up_from
        if len(summaries) != args.clients:
            failures.append(f"{args.clients - len(summaries)} stream clients gave no summary")
        for i, c in enumerate(summaries):
            if not c["complete"] or c["repeated"]:
                failures.append(f"stream {i}: {c['unique']} of {sum(expected.values())} events, "
                                f"{c['repeated']} repeated")
            if not c["ordered"]:
                failures.append(f"stream {i}: positions repeated or out of order")
        problems = [p for c in summaries for p in c["problems"]]
        if problems:
            failures.append(f"{len(problems)} stream errors (first: {problems[0]})")

        warm = [rss for t, rss in samples if t >= args.warmup]
        memory = []
        for r in range(len(replicas)):
            values = [rss[r] for rss in warm]
            if not values:
                failures.append("no memory sample after the warm-up: run longer than --warmup")
                break
            mean = sum(values) / len(values)
            lo, hi = min(values) / mean - 1, max(values) / mean - 1
            memory.append((r, mean / 1024, lo * 100, hi * 100))
            if lo < -0.10 or hi > 0.10:
                failures.append(f"replica {r}: memory left ±10 % of its mean ({lo:+.1%} / {hi:+.1%})")

        print(f"\nsoak: {elapsed / 60:.1f} min, {len(finished)} Snakemake runs of {args.jobs} jobs "
              f"({args.runs} at a time), {args.clients} stream clients")
        print(f"  events stored:   {total_events} ({total_events / elapsed:.0f}/s)")
        print(f"  stream events:   {sum(c['received'] for c in summaries)} received in all, "
              f"{sum(c['connections'] for c in summaries)} connections; every client's summary "
              f"{catch_up:.0f} s after the last run ended (--catch-up {args.catch_up:.0f} s)")
        for r, mean, lo, hi in memory:
            print(f"  replica {r} RSS:   mean {mean:.1f} MiB after {args.warmup:.0f} s, "
                  f"range {lo:+.1f} % .. {hi:+.1f} % ({len(warm)} samples)")
        print(f"  first/last RSS:  {samples[0][1]} / {samples[-1][1]} KiB")
        if failures:
            print(f"\nsoak FAILED ({len(failures)}):")
            for f in failures[:30]:
                print(f"  - {f}")
            print(f"  (logs in {root})")
            return 1
        print("\nsoak passed: no errors, every event stored once and streamed to every client")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["psql", "-X", "-q", admin, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                       capture_output=True)
        if not failures:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
