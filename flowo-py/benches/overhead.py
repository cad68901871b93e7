#!/usr/bin/env python3
"""What `--logger flowo` costs a Snakemake run: a generated workflow of many trivial jobs
(2,000 independent `touch` jobs and an `all` rule), `--cores 2`, run in interleaved rounds
without a logger plugin, with one that does nothing, and with FlowO's (embedded store), then
once with FlowO's pointed at a server that is not there (everything spooled).

The plugin that does nothing is the floor any logger plugin stands on: Snakemake hands every
record of a run with a plugin to a `QueueHandler` (which formats and copies it) and a
`QueueListener` thread that calls the plugin, and neither is there without one. What FlowO's
plugin adds is its ratio over that floor, printed as the ratio to the limit.

Snakemake schedules with `--scheduler greedy` here (`--scheduler ilp` for its default): its
default ILP scheduler solves a problem over every ready job each time a job can start, which
with 2,000 ready jobs is most of a run (182 s with it, 37 s without, on a 2-core machine). The
plugin then gets its records five times as fast, the harder test of its overhead, and the
pairs take minutes instead of half an hour.

Prints a table: median wall times, the ratio of each arm to the run without a plugin of the
same round (their median is the figure: a machine whose speed drifts over minutes moves the
runs of one round together), the spread of the runs without the plugin (the noise the ratio
sits in), the time from the last job's end (the newest output's mtime) to
the process's exit, the plugin's own emit() latency (FLOWO_PLUGIN_STATS), and the peak RSS of
the Snakemake process. Never fails on a figure; it is not run by the tests.

Run it with the Python of a venv holding Snakemake and the plugin (scripts/py-env.sh):

    ~/.cache/flowo/venv-snakemake-9-newest/bin/python flowo-py/benches/overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import figures

SNAKEMAKE = Path(sys.executable).parent / "snakemake"

# A logger plugin that does nothing, with the properties FlowO's has (every record, the rule
# graph, no stream): written into a directory on PYTHONPATH for every run, so that Snakemake's
# plugin registry imports the same modules whichever arm runs.
NULL_PLUGIN = "flowo-bench-null"
NULL_PLUGIN_SOURCE = """\
from snakemake_interface_logger_plugins.base import LogHandlerBase


class LogHandler(LogHandlerBase):
    def emit(self, record):
        pass

    writes_to_stream = property(lambda self: False)
    writes_to_file = property(lambda self: False)
    has_filter = property(lambda self: True)
    has_formatter = property(lambda self: False)
    needs_rulegraph = property(lambda self: True)
"""


def plugins_dir(base: Path) -> Path:
    """The directory on PYTHONPATH that holds [NULL_PLUGIN]."""
    return base / "plugins"


def write_null_plugin(base: Path) -> None:
    package = plugins_dir(base) / ("snakemake_logger_plugin_" + NULL_PLUGIN.replace("-", "_"))
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(NULL_PLUGIN_SOURCE)


@dataclass
class Run:
    wall: float  # seconds, start to exit
    tail: float  # seconds from the newest output's mtime to exit
    max_rss_kib: int  # peak RSS of Snakemake (and its reaped children)
    cpu: float  # CPU seconds (user and system) of Snakemake and its jobs
    stats: dict | None  # FLOWO_PLUGIN_STATS
    output: str


def slowest_summary(stats: dict) -> str:
    """The plugin's account of its slowest 1 % of records (FLOWO_PLUGIN_STATS)."""
    s = stats.get("emit_slowest_percent") or {}
    if not s.get("with_usage") or not s.get("ns_sum"):
        return "not measured"
    n = s["with_usage"]
    return (
        f"{100 * s['cpu_ns_sum'] / s['ns_sum']:.0f} % / "
        f"{s['preempted']} of {n} / {s['faulted']} of {n}"
    )


def threads_cpu(stats: dict) -> float:
    """CPU seconds of the threads the plugin started (its sink, the embedded store's)."""
    return sum((stats.get("threads_cpu_ns") or {}).values()) / 1e9


def threads_note(stats: list[dict]) -> str:
    """The median CPU time per thread name, and per event."""
    names = sorted({n for s in stats for n in s.get("threads_cpu_ns") or {}})
    parts = [f"{n} {median([(s.get('threads_cpu_ns') or {}).get(n, 0) / 1e9 for s in stats]):.3f}"
             for n in names]  # fmt: skip
    per_event = median([threads_cpu(s) / s["events"] * 1e6 for s in stats if s.get("events")])
    note = f"{', '.join(parts)}; {per_event:.1f} µs per event"
    per_delivery = [threads_cpu(s) / s["deliveries"] * 1e3 for s in stats if s.get("deliveries")]
    if per_delivery:
        note += f"; {median(per_delivery):.2f} ms per delivery"
    return note


def snakefile(jobs: int) -> str:
    return f"""
N = {jobs}

rule all:
    input:
        expand("out/{{i}}.txt", i=range(N)),

rule touch:
    output:
        "out/{{i}}.txt",
    shell:
        "touch {{output}}"
"""


def run_once(base: Path, jobs: int, scheduler: str, logger: list[str]) -> Run:
    """One Snakemake run in a fresh working directory, with these `--logger` arguments (none:
    no logger plugin)."""
    work = Path(tempfile.mkdtemp(dir=base, prefix="run-"))
    (work / "Snakefile").write_text(snakefile(jobs))
    data = work / "flowo-data"
    stats_path = work / "stats.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWO_", "SNAKEMAKE_"))}
    env.update(
        FLOWO_DATA_DIR=str(data),
        FLOWO_PLUGIN_STATS=str(stats_path),
        HOME=str(work / "home"),
        XDG_CONFIG_HOME=str(work / "config"),
        XDG_CACHE_HOME=str(work / "cache"),
        PYTHONPATH=os.pathsep.join(
            [str(plugins_dir(base)), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    )
    args = [str(SNAKEMAKE), "--cores", "2", "--scheduler", scheduler, *logger]
    log = work / "snakemake.log"
    with open(log, "w") as out:
        start = time.perf_counter()
        start_wall = time.time()
        proc = subprocess.Popen(args, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        end_wall = start_wall + wall
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"snakemake {' '.join(args[1:])} failed ({proc.returncode}):\n{output[-3000:]}")
    newest = max(p.stat().st_mtime for p in (work / "out").iterdir())
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else None
    shutil.rmtree(work, ignore_errors=True)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, end_wall - newest, usage.ru_maxrss, cpu, stats, output)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired_ratio(runs: list[Run], base: list[Run]) -> float:
    """The median over the rounds of a run's wall time over that round's run without a plugin."""
    return median([r.wall / b.wall for r, b in zip(runs, base)])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 jobs, 2 rounds")
    parser.add_argument("--jobs", type=int, help="jobs besides `all` (default 2000)")
    parser.add_argument("--pairs", type=int, help="rounds of runs, one of each arm (default 5)")
    parser.add_argument(
        "--scheduler", default="greedy", help="Snakemake's scheduler (default greedy; ilp)"
    )
    opts = parser.parse_args()
    jobs = opts.jobs or (300 if opts.quick else 2000)
    pairs = opts.pairs or (2 if opts.quick else 5)
    if not SNAKEMAKE.exists():
        sys.exit(f"no snakemake beside {sys.executable}; run with a venv from scripts/py-env.sh")
    version = subprocess.run([str(SNAKEMAKE), "--version"], capture_output=True, text=True)
    base = Path(tempfile.mkdtemp(prefix="flowo-overhead-"))
    without: list[Run] = []
    null: list[Run] = []
    with_: list[Run] = []
    arms = [
        ([], without, "without   "),
        (["--logger", NULL_PLUGIN], null, "null plugin"),
        (["--logger", "flowo"], with_, "with flowo "),
    ]
    try:
        write_null_plugin(base)
        print(
            f"FlowO plugin overhead: {jobs} touch jobs + all, --cores 2, "
            f"--scheduler {opts.scheduler}, {pairs} rounds of 3 runs, "
            f"Snakemake {version.stdout.strip()}",
            flush=True,
        )
        for i in range(pairs):
            # Rotate which goes first, so drift (caches, thermal) hits every arm alike.
            for logger, runs, label in arms[i % 3:] + arms[: i % 3]:
                run = run_once(base, jobs, opts.scheduler, logger)
                runs.append(run)
                print(f"  round {i + 1} {label}: {run.wall:7.2f} s", flush=True)
        unreachable = f"http://127.0.0.1:{closed_port()}"
        spool = run_once(
            base, jobs, opts.scheduler, ["--logger", "flowo", "--logger-flowo-url", unreachable]
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)

    def col(runs: list[Run], f) -> list[float]:
        return [f(r) for r in runs]

    def med(runs: list[Run], f) -> float:
        return median(col(runs, f))

    def span(runs: list[Run]) -> str:
        return f"{min(col(runs, lambda r: r.wall)):.2f}-{max(col(runs, lambda r: r.wall)):.2f}"

    w0, wn, w1 = (med(runs, lambda r: r.wall) for runs in (without, null, with_))
    spread = col(without, lambda r: r.wall)
    rows = [
        (
            "wall time, median (s)",
            f"{w0:.2f}",
            f"{wn:.2f}",
            f"{w1:.2f}",
            f"{paired_ratio(with_, without):.3f} by round (null plugin "
            f"{paired_ratio(null, without):.3f}, flowo over it {paired_ratio(with_, null):.3f}); "
            f"of medians {w1 / w0:.3f}",
        ),
        (
            "wall time, min-max (s)",
            span(without),
            span(null),
            span(with_),
            f"±{(max(spread) - min(spread)) / w0 * 50:.1f}% noise",
        ),
        *[
            (
                label,
                *(f"{med(runs, f):.2f}" for runs in (without, null, with_)),
                "",
            )
            for label, f in [
                ("CPU time of the run, median (s)", lambda r: r.cpu),
                ("last job end -> exit, median (s)", lambda r: r.tail),
            ]
        ],
        (
            "peak RSS of snakemake, median (MiB)",
            *(f"{med(runs, lambda r: r.max_rss_kib) / 1024:.0f}" for runs in (without, null, with_)),
            "",
        ),
    ]
    stats = [r.stats for r in with_ if r.stats]
    if stats:

        def us(key: str) -> str:
            return f"{median([s[key] for s in stats]) / 1000:.1f}"

        rows += [
            (
                "emit() p50 / p99 / max (µs, median)",
                "",
                "",
                f"{us('emit_ns_p50')} / {us('emit_ns_p99')} / {us('emit_ns_max')}",
                "",
            ),  # fmt: skip
            (
                "emit() slowest 1 %: on a CPU / preempted / page fault",
                "",
                "",
                slowest_summary(stats[-1]),
                "last run; CPU time over wall time",
            ),
            (
                "plugin threads' CPU per run, median (s)",
                "",
                "",
                f"{median([threads_cpu(s) for s in stats]):.3f}",
                threads_note(stats),
            ),
            (
                "events per run / delivered / deliveries / dropped",
                "",
                "",
                f"{stats[-1]['events']} / {stats[-1]['delivered']} / "
                f"{stats[-1].get('deliveries', '?')} / {stats[-1]['dropped']}",
                "",
            ),
        ]
    else:
        rows.append(("FLOWO_PLUGIN_STATS", "", "", "not written", ""))
    s = spool.stats or {}
    rows.append(
        (
            "server unreachable (spooling): wall (s)",
            "",
            "",
            f"{spool.wall:.2f}",
            f"{spool.wall / w0:.3f}; spooled {s.get('spooled', '?')} of {s.get('events', '?')}",
        )
    )
    width = [max(len(r[i]) for r in rows) for i in range(5)]
    header = ("", "without", "null plugin", "with flowo", "ratio / note")
    width = [max(w, len(h)) for w, h in zip(width, header)]
    print()
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                        enumerate(zip(row, width))).rstrip())  # fmt: skip
    record_figures(without, null, with_, spool, jobs, opts.scheduler)
    notes = [line for line in spool.output.splitlines() if line.startswith("flowo:")]
    if notes:
        print("\nplugin lines of the spooling run:")
        for line in notes:
            print(f"  {line}")


def record_figures(
    without: list[Run], null: list[Run], with_: list[Run], spool: Run, jobs: int, scheduler: str
) -> None:
    """Appends the figures `cargo xtask bench` collects to FLOWO_BENCH_FIGURES (JSON Lines;
    the format is in flowo-testkit/src/figures.rs)."""
    w0 = median([r.wall for r in without])
    # The target: 1 % over no logger, or the spread of the runs without it where that is wider
    # (the slowest of them over their median).
    noise = max(r.wall for r in without) / w0
    tail_delta = median([r.tail for r in with_]) - median([r.tail for r in without])
    work = (
        f"{jobs} trivial jobs, --cores 2, --scheduler {scheduler}, "
        f"median ratio of {len(with_)} interleaved rounds"
    )
    # The limit: the same ratio for a plugin that does nothing (Snakemake's own cost of having
    # a logger plugin at all), so that the table's "/ limit" is FlowO's cost over that floor.
    figures.record("plugin.overhead.wall_ratio", paired_ratio(with_, without), "ratio",
                   max(1.01, noise), "lower", work, limit=paired_ratio(null, without))  # fmt: skip
    rows = [
        ("plugin.null.wall_ratio", paired_ratio(null, without), "ratio", None, "lower",
         "a logger plugin that does nothing, over no plugin"),  # fmt: skip
        ("plugin.overhead.exit_delay", tail_delta, "s", 0.5, "lower",
         "last job's end to exit, with the plugin minus without"),  # fmt: skip
        ("plugin.spooling.wall_ratio", spool.wall / w0, "ratio", None, "lower",
         "server unreachable, everything spooled"),  # fmt: skip
    ]
    stats = [r.stats for r in with_ if r.stats]
    if stats:
        p99 = median([s["emit_ns_p99"] for s in stats]) / 1000
        dropped = max(s["dropped"] for s in stats)
        rows += [
            ("plugin.emit", p99, "µs p99", 20.0, "lower", "time inside emit() per record"),
            ("plugin.dropped", dropped, "records", 0, "lower", "records dropped (queue full)"),
            ("plugin.threads_cpu", median([threads_cpu(s) for s in stats]), "s", None, "lower",
             "CPU time of the plugin's own threads per run"),  # fmt: skip
        ]
    for row in rows:
        figures.record(*row)


if __name__ == "__main__":
    main()
