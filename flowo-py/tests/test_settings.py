"""Where the plugin records and how its settings act, each on a one-job workflow: the URL from
a setting, FLOWO_URL or the config file `flowo login` writes (in that order), a PostgreSQL
database written directly (its password never shown), the workspace, the log tail size, and a
server that is down for the whole run (spool, then `flowo sync`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import (
    FLOWO_CONSOLE,
    Api,
    Sandbox,
    assert_every_event_once,
    free_port,
)

LOG_TEXT = "line one\nline two\n"


def tiny_workflow(sandbox: Sandbox, name: str = "tiny") -> Path:
    """One job writing a log file, and `all`."""
    workdir = sandbox.root / "work" / name
    workdir.mkdir(parents=True)
    (workdir / "Snakefile").write_text(
        """
rule all:
    input:
        "out.txt",

rule make:
    output:
        "out.txt",
    log:
        "logs/make.log",
    shell:
        "printf 'line one\\\\nline two\\\\n' > {log}; echo done > {output}"
"""
    )
    return workdir


def recorded_run(result, api: Api, quiet: bool = True) -> dict:
    """The run, succeeded with both jobs and every event stored once; `quiet`: the plugin said
    nothing but its `recording run` line."""
    assert result.rc == 0, result.describe()
    if quiet:
        assert not result.warnings and not result.undelivered, result.flowo_lines
    run = api.run(result.run_id)
    assert run["status"] == "succeeded" and run["jobs"]["succeeded"] == 2, run
    assert_every_event_once(api, result.run_id)
    return run


def started_server(make_server, database_url: str | None):
    server = make_server(database_url)
    admin = server.token("admin")
    server.start()
    return server, Api(server.url, admin)


def test_setting_beats_flowo_url_beats_config_file(sandbox, snakemake, make_server, pg_url):
    """Three targets offered at once; each layer removed in turn shows the next one wins."""
    setting_db = sandbox.root / "from-setting.db"
    env_db = sandbox.root / "from-env.db"
    server = make_server(pg_url)
    ingest = server.token("ingest")
    admin = server.token("admin")
    server.start()
    sandbox.config_file.parent.mkdir(parents=True, exist_ok=True)
    sandbox.config_file.write_text(f'url = "{server.url}"\ntoken = "{ingest}"\n')
    env = dict(sandbox.env, FLOWO_URL=f"sqlite://{env_db}")
    workdir = tiny_workflow(sandbox)

    first = snakemake(
        workdir, ["--cores", "1", "--forceall", "--logger-flowo-url", f"sqlite://{setting_db}"],
        env=env,
    ).wait()  # fmt: skip
    assert first.target == f"sqlite://{setting_db}", first.flowo_lines
    second = snakemake(workdir, ["--cores", "1", "--forceall"], env=env).wait()
    assert second.target == f"sqlite://{env_db}", second.flowo_lines
    third = snakemake(workdir, ["--cores", "1", "--forceall"]).wait()
    assert third.target == server.url, third.flowo_lines  # the token came from the file too
    recorded_run(third, Api(server.url, admin))

    for db, result in ((setting_db, first), (env_db, second)):
        reader, api = started_server(make_server, f"sqlite://{db}")
        recorded_run(result, api)
        assert [r["id"] for r in api.runs()] == [result.run_id]
        reader.stop()
    assert [r["id"] for r in Api(server.url, admin).runs()] == [third.run_id]
    assert not (sandbox.data_dir / "flowo.db").exists(), "the default store was not touched"


def test_postgres_written_directly_with_its_password_masked(
    sandbox, snakemake, make_server, pg_url
):
    secret = "s3cret-pw"
    with_password = pg_url.replace("postgres@", f"postgres:{secret}@", 1)
    assert secret in with_password
    workdir = tiny_workflow(sandbox)
    env = dict(sandbox.env, FLOWO_URL=with_password)
    result = snakemake(workdir, ["--cores", "1"], env=env).wait()
    assert secret not in result.output, result.describe()
    assert result.target is not None and secret not in result.target
    assert result.target.split("@")[-1] == pg_url.split("@")[-1], result.target
    _, api = started_server(make_server, pg_url)
    recorded_run(result, api)


def test_workspace_setting(sandbox, snakemake, make_server, pg_url):
    server = make_server(pg_url)
    server.admin("workspace", "create", "genomics")
    ingest, admin = server.token("ingest"), server.token("admin")
    server.start()
    api = Api(server.url, admin)
    workdir = tiny_workflow(sandbox)
    env = dict(sandbox.env, FLOWO_TOKEN=ingest, SNAKEMAKE_LOGGER_FLOWO_WORKSPACE="genomics")
    result = snakemake(workdir, ["--cores", "1", "--logger-flowo-url", server.url], env=env).wait()
    run = recorded_run(result, api)
    workspaces = {w["id"]: w["name"] for w in api.get("/workspaces")}
    assert workspaces[run["workspace_id"]] == "genomics"


@pytest.mark.parametrize(
    "tail, text",
    [
        (100, LOG_TEXT),  # the whole file
        (12, "line two\n"),  # cut inside a line: start at the next whole one
        (9, "line two\n"),  # cut exactly at a line start: that line is whole
        (5, " two\n"),  # cut inside the last line: its end rather than nothing
    ],
)
def test_log_tail_bytes(tail, text, sandbox, snakemake, make_server):
    workdir = tiny_workflow(sandbox)
    args = ["--cores", "1", "--logger-flowo-log-tail-bytes", str(tail)]
    result = snakemake(workdir, args).wait()
    _, api = started_server(make_server, None)
    recorded_run(result, api)
    (logs,) = api.events(result.run_id, kinds="job_logs")
    (f,) = logs["data"]["files"]
    assert f["path"].endswith("logs/make.log")
    assert (f["size"], f["truncated"], f["text"]) == (len(LOG_TEXT), tail < len(LOG_TEXT), text)


@pytest.mark.parametrize("spool", ["default", "custom"])
def test_server_down_for_the_whole_run_then_flowo_sync(
    spool, sandbox, snakemake, make_server, pg_url
):
    """Nothing reaches the server: the closing line says how many events wait where and the
    command that delivers them, which then stores every event once."""
    server = make_server(pg_url, port=free_port())
    ingest, admin = server.token("ingest"), server.token("admin")
    env = dict(sandbox.env, FLOWO_TOKEN=ingest)
    if spool == "custom":
        spool_dir = sandbox.root / "my-spool"
        env["SNAKEMAKE_LOGGER_FLOWO_SPOOL_DIR"] = str(spool_dir)
        sync_args = ["sync", "--spool-dir", str(spool_dir)]
    else:
        spool_dir = sandbox.data_dir / "spool"
        sync_args = ["sync"]
    workdir = tiny_workflow(sandbox)
    args = ["--cores", "1", "--logger-flowo-url", server.url, "--logger-flowo-close-timeout", "1"]
    result = snakemake(workdir, args, env=env).wait()
    assert result.rc == 0, result.describe()
    assert len(result.warnings) == 1, result.flowo_lines
    (line,) = result.undelivered
    assert (line["run_id"], line["target"]) == (result.run_id, server.url)
    count = int(line["count"])
    assert count == result.stats["events"] and result.stats["delivered"] == 0, result.stats
    spool_file = Path(line["spool_file"])
    assert spool_file.is_file() and spool_file.parent == spool_dir, spool_file
    assert line["spool_dir"] == (str(spool_dir) if spool == "custom" else None), line.group(0)

    server.start()
    api = Api(server.url, admin)
    assert api.runs() == []

    def sync() -> subprocess.CompletedProcess:
        out = subprocess.run(
            [str(FLOWO_CONSOLE), *sync_args],
            env=dict(sandbox.env, FLOWO_TOKEN=ingest),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out

    sync()
    run = recorded_run(result, api, quiet=False)
    assert run["event_count"] == count
    again = sync()
    assert "nothing to deliver" in again.stdout, again.stdout
    assert api.run(result.run_id)["event_count"] == count
