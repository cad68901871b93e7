"""Faults around the plugin: its spool directory unwritable or its disk full, a damaged spool
file, and the embedded store locked by another process for seconds.

In each, Snakemake ends as it does without the plugin (exit status and output files), and every
event is either stored exactly once or counted in a warning that says where it went: nothing
vanishes unseen. "Unwritable" must hold for root too (the tests may run as root, where file
modes stop nothing): a spool directory below a regular file (ENOTDIR), and a full disk is a
small tmpfs filled up, mounted in a private mount namespace of the Snakemake process.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (
    FLOWO_CONSOLE,
    UUID,
    Api,
    Sandbox,
    SnakemakeResult,
    assert_every_event_once,
    free_port,
    need,
    wait_for,
)
from test_delivery import gated_workflow, open_gate, wait_gate_waiting

LOST = re.compile(
    rf"^flowo: warning: (?P<count>\d+) events of run (?P<run_id>{UUID}) not delivered to "
    r"(?P<target>\S+) and no spool directory could hold them; they are lost$"
)


def small_workflow(root: Path, name: str) -> Path:
    """Two jobs, each with an output and a log, and `all`."""
    workdir = root / "work" / name
    workdir.mkdir(parents=True)
    (workdir / "Snakefile").write_text(
        """
rule all:
    input:
        "out/b.txt",

rule a:
    output:
        "out/a.txt",
    log:
        "logs/a.log",
    shell:
        "echo made a > {log}; echo a > {output}"

rule b:
    input:
        "out/a.txt",
    output:
        "out/b.txt",
    log:
        "logs/b.log",
    shell:
        "echo made b > {log}; cat {input} > {output}; echo b >> {output}"
"""
    )
    return workdir


def made_files(workdir: Path) -> dict[str, str]:
    """The workflow's own files after a run (Snakemake's bookkeeping left out)."""
    return {
        str(p.relative_to(workdir)): p.read_text()
        for p in sorted(workdir.rglob("*"))
        if p.is_file() and ".snakemake" not in p.parts
    }


def same_as_without_plugin(result: SnakemakeResult, workdir: Path, reference) -> None:
    """Snakemake ended as the same workflow does without the plugin: exit status and files."""
    rc, files = reference
    assert result.rc == rc == 0, result.describe()
    assert made_files(workdir) == files, result.describe()


@pytest.fixture
def without_plugin(sandbox: Sandbox, snakemake):
    """Runs a copy of a workflow folder without `--logger flowo`: (exit status, files)."""

    def run(workdir: Path, args: list[str], env: dict[str, str] | None = None):
        copy = workdir.parent / f"{workdir.name}-without-plugin"
        subprocess.run(["cp", "-a", str(workdir), str(copy)], check=True)
        result = snakemake(copy, args, env=env, logger=False).wait()
        return result.rc, made_files(copy)

    return run


def below_a_file(sandbox: Sandbox, name: str) -> Path:
    """A directory path that cannot be created, even by root: its parent is a regular file."""
    blocker = sandbox.root / f"{name}-is-a-file"
    blocker.write_text("not a directory\n")
    return blocker / name


def sqlite_server(make_server, sandbox: Sandbox, port: int | None = None):
    """A `flowo serve` on an embedded store of its own (no PostgreSQL needed)."""
    server = make_server(f"sqlite://{sandbox.root / 'server.db'}", port=port)
    return server, server.token("ingest"), server.token("admin")


# --- the spool directory unwritable -----------------------------------------------------------


def test_unwritable_spool_dir_warns_once_and_delivers(
    sandbox, snakemake, make_server, without_plugin
):
    """The server answers: the spool is never needed. One warning line names the directory,
    why, and the directory used instead; every event is stored once."""
    server, ingest, admin = sqlite_server(make_server, sandbox)
    server.start()
    spool_dir = below_a_file(sandbox, "spool")
    tmp = sandbox.root / "tmp"
    tmp.mkdir()
    env = dict(
        sandbox.env,
        FLOWO_TOKEN=ingest,
        TMPDIR=str(tmp),
        SNAKEMAKE_LOGGER_FLOWO_SPOOL_DIR=str(spool_dir),
    )
    workdir = small_workflow(sandbox.root, "unwritable")
    args = ["--cores", "1"]
    reference = without_plugin(workdir, args, env=env)
    result = snakemake(workdir, [*args, "--logger-flowo-url", server.url], env=env).wait()
    same_as_without_plugin(result, workdir, reference)
    (warning,) = result.warnings
    assert str(spool_dir) in warning and "Not a directory" in warning, warning
    assert str(tmp / "flowo-spool-") in warning, warning
    assert not result.undelivered, result.flowo_lines
    assert result.stats["delivered"] == result.stats["events"], result.stats
    api = Api(server.url, admin)
    assert len(assert_every_event_once(api, result.run_id)) == result.stats["events"]


def test_unwritable_spool_and_server_down_counts_what_is_lost(
    sandbox, snakemake, make_server, without_plugin
):
    """No server and nowhere to spool (the configured directory and the temporary fallback
    both unwritable): the events are lost, and the last line says how many."""
    spool_dir = below_a_file(sandbox, "spool")
    tmp = below_a_file(sandbox, "tmp")
    url = f"http://127.0.0.1:{free_port()}"
    env = dict(sandbox.env, TMPDIR=str(tmp), SNAKEMAKE_LOGGER_FLOWO_SPOOL_DIR=str(spool_dir))
    workdir = small_workflow(sandbox.root, "unwritable")
    args = ["--cores", "1"]
    reference = without_plugin(workdir, args, env=env)
    result = snakemake(
        workdir, [*args, "--logger-flowo-url", url, "--logger-flowo-close-timeout", "1"], env=env
    ).wait()
    same_as_without_plugin(result, workdir, reference)
    first = result.warnings[0]
    assert str(spool_dir) in first and "kept in memory only" in first, result.flowo_lines
    lost = [m for w in result.warnings if (m := LOST.match(w))]
    assert len(lost) == 1, result.flowo_lines
    assert (lost[0]["run_id"], lost[0]["target"]) == (result.run_id, url)
    assert int(lost[0]["count"]) == result.stats["events"] > 0, result.stats
    assert result.stats["delivered"] == 0 and result.stats["spooled"] == result.stats["events"]
    assert not result.undelivered, result.flowo_lines


# --- the spool's disk full --------------------------------------------------------------------


FILL_AND_RUN = """set -e
mount -t tmpfs -o size=16k,mode=0700 flowo-full "$1"
# Fill it: the write stops at ENOSPC.
head -c 1048576 /dev/zero > "$1/filler" 2>/dev/null || true
shift
exec "$@"
"""


@pytest.fixture(scope="session")
def private_mount() -> list[str]:
    """The command prefix that runs a command in a mount namespace of its own, where it may
    mount a tmpfs (root: `unshare --mount`; others: with a user namespace)."""
    prefix = ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    probe = subprocess.run(
        [*prefix, "sh", "-c", "mount -t tmpfs -o size=16k flowo-probe /mnt || exit 1"],
        capture_output=True,
        text=True,
    )
    need(
        probe.returncode == 0,
        f"cannot mount a tmpfs in a private mount namespace ({probe.stderr.strip()})",
    )
    return prefix


@pytest.mark.parametrize("server_up", [True, False], ids=["server-up", "server-down"])
def test_full_spool_disk(
    server_up, sandbox, snakemake, make_server, without_plugin, private_mount
):
    """The spool directory is on a full file system. With the server up nothing needs the
    spool and nothing is said; with it down the spool cannot take the events: a warning with
    the file system's error, then the count of events lost."""
    server, ingest, admin = sqlite_server(make_server, sandbox, port=free_port())
    if server_up:
        server.start()
    spool_dir = sandbox.root / "full-spool"
    spool_dir.mkdir()
    env = dict(sandbox.env, FLOWO_TOKEN=ingest, SNAKEMAKE_LOGGER_FLOWO_SPOOL_DIR=str(spool_dir))
    workdir = small_workflow(sandbox.root, "full")
    args = ["--cores", "1"]
    reference = without_plugin(workdir, args, env=env)
    wrapper = [*private_mount, "sh", "-c", FILL_AND_RUN, "sh", str(spool_dir)]
    result = snakemake(
        workdir,
        [*args, "--logger-flowo-url", server.url, "--logger-flowo-close-timeout", "1"],
        env=env,
        wrapper=wrapper,
    ).wait()
    same_as_without_plugin(result, workdir, reference)
    assert not result.undelivered, result.flowo_lines
    if server_up:
        assert not result.warnings, result.flowo_lines
        # Nothing waited behind a delivery, not even one under way when Snakemake ended.
        assert result.stats["backlogged"] == 0, result.stats
        api = Api(server.url, admin)
        assert len(assert_every_event_once(api, result.run_id)) == result.stats["events"]
        return
    full = [w for w in result.warnings if "cannot write the spool" in w]
    assert len(full) == 1 and "No space left on device" in full[0], result.flowo_lines
    assert str(spool_dir) in full[0], full[0]
    lost = [m for w in result.warnings if (m := LOST.match(w))]
    assert len(lost) == 1 and lost[0]["run_id"] == result.run_id, result.flowo_lines
    assert int(lost[0]["count"]) == result.stats["events"] > 0, result.stats
    # The namespace's tmpfs is gone with the process: the directory outside is untouched.
    assert list(spool_dir.iterdir()) == []


# --- a damaged spool file ---------------------------------------------------------------------


def test_damaged_spool_file_good_events_delivered_bad_lines_kept(
    sandbox, snakemake, make_server
):
    """A spool file with a garbage line, invalid JSON, an event with fields of the wrong type
    and a last line cut short: `flowo sync` delivers every good event once, skips the four
    others, says how many and where it copied them, and exits 0."""
    server, ingest, admin = sqlite_server(make_server, sandbox, port=free_port())
    env = dict(sandbox.env, FLOWO_TOKEN=ingest)
    workdir = small_workflow(sandbox.root, "damaged")
    result = snakemake(
        workdir,
        ["--cores", "1", "--logger-flowo-url", server.url, "--logger-flowo-close-timeout", "1"],
        env=env,
    ).wait()
    assert result.rc == 0, result.describe()
    (line,) = result.undelivered
    spool_file = Path(line["spool_file"])
    count = int(line["count"])
    assert count == result.stats["events"], result.stats

    header, *events = spool_file.read_text().splitlines()
    assert len(events) == count
    wrong_types = json.loads(events[1])
    wrong_types["seq"] = "one"
    wrong_types["run_id"] = 42
    bad = [
        b"\x00\x01 garbage \xff\xfe",  # not UTF-8 either
        ('{"run_id": "' + result.run_id + '", "seq": 3, "kind": ').encode(),
        json.dumps(wrong_types).encode(),
    ]
    cut = events[-1][: len(events[-1]) // 2].encode()
    lines = [x.encode() for x in events]
    middle = len(lines) // 2
    damaged = [header.encode(), bad[0], *lines[:middle], bad[1], bad[2], *lines[middle:]]
    spool_file.write_bytes(b"\n".join(damaged) + b"\n" + cut)

    server.start()
    api = Api(server.url, admin)
    out = subprocess.run(
        [str(FLOWO_CONSOLE), "sync"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "skipped 4 unreadable lines" in out.stdout, out.stdout
    kept = spool_file.parent / f"{result.run_id}.bad.jsonl"
    warnings = [w for w in out.stderr.splitlines() if w.startswith("warning: ")]
    assert warnings == [
        f"warning: skipped 4 unreadable lines of {spool_file}; they are kept in {kept}"
    ], out.stderr

    stored = assert_every_event_once(api, result.run_id)
    assert len(stored) == count
    assert api.run(result.run_id)["status"] == "succeeded"
    assert not spool_file.exists()
    kept_lines = [json.loads(x) for x in kept.read_text().splitlines()]
    assert [x["text"] for x in kept_lines] == [
        "\x00\x01 garbage \ufffd\ufffd",
        bad[1].decode(),
        bad[2].decode(),
        cut.decode(),
    ]
    assert all(x["reason"] for x in kept_lines), kept_lines
    assert "cut short" in kept_lines[-1]["reason"]

    again = subprocess.run(
        [str(FLOWO_CONSOLE), "sync"], env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0 and "nothing to deliver" in again.stdout, again.stdout
    assert api.run(result.run_id)["event_count"] == count


# --- the embedded store locked by another process ---------------------------------------------


def test_store_locked_by_another_process(sandbox, snakemake, make_server, without_plugin):
    """Another process holds the embedded store's file with `BEGIN EXCLUSIVE` while the jobs
    of the second phase run and while Snakemake ends: the plugin's writes wait for the lock
    (the store's busy timeout) and nothing is lost, spooled or said; Snakemake ends as without
    the plugin."""
    phases = [3, 4]
    workdir = sandbox.root / "gated"
    gated_workflow(workdir, phases)
    reference_dir = sandbox.root / "gated-reference"
    gated_workflow(reference_dir, phases)
    for p in range(1, len(phases)):
        open_gate(reference_dir, p)
    args = ["--cores", "2"]
    reference = without_plugin(reference_dir, args)

    db = sandbox.root / "locked.db"
    proc = snakemake(
        workdir,
        [*args, "--logger-flowo-url", f"sqlite://{db}", "--logger-flowo-close-timeout", "120"],
    )
    run_id = proc.run_id()
    wait_gate_waiting(proc, 1)
    wait_for("the store file", db.exists)
    holder = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        open_gate(workdir, 1)
        # Every job done: Snakemake ends (and closes the plugin) while the lock is still held.
        wait_for("the run's last job", lambda: "(100%) done" in proc.output())
        # Held a few seconds more: the plugin's last writes wait on it, and so does Snakemake's
        # exit (the close timeout is longer).
        time.sleep(4)
        assert proc.proc.poll() is None, "Snakemake waits for its events to be delivered"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    result = proc.wait()
    assert result.run_id == run_id
    assert result.rc == reference[0] == 0, result.describe()
    reference_files = {k: v for k, v in reference[1].items() if not k.startswith("gates/")}
    files = {k: v for k, v in made_files(workdir).items() if not k.startswith("gates/")}
    assert files == reference_files, result.describe()
    assert not result.warnings and not result.undelivered, result.flowo_lines
    assert result.stats["delivered"] == result.stats["events"], result.stats

    server = make_server(f"sqlite://{db}")
    admin = server.token("admin")
    server.start()
    api = Api(server.url, admin)
    events = assert_every_event_once(api, run_id)
    assert len(events) == result.stats["events"]
    assert api.run(run_id)["status"] == "succeeded"
