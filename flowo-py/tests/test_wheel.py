"""The built wheel, installed with pip into a brand-new venv beside the same Snakemake version
from PyPI, works on its own: Snakemake finds the plugin, a run is recorded into the embedded
store, and the wheel's `flowo` console script sees it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import RECORDING, Sandbox, need


def real_pip_cache() -> str:
    """pip's cache of the user running the tests (the sandbox's HOME has none), so the
    install reuses earlier downloads."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else ""


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kwargs)
    assert out.returncode == 0, f"{cmd}: {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def built_wheel() -> str:
    """FLOWO_PY_WHEEL, else the one wheel scripts/py-env.sh left in its cache."""
    if os.environ.get("FLOWO_PY_WHEEL"):
        return os.environ["FLOWO_PY_WHEEL"]
    cache = Path(os.environ.get("FLOWO_CACHE", Path.home() / ".cache/flowo"))
    wheels = sorted((cache / "wheels").glob("snakemake_logger_plugin_flowo-*.whl"))
    return str(wheels[0]) if len(wheels) == 1 else ""


def test_wheel_in_a_fresh_venv(sandbox: Sandbox, snakemake_version: str, plugin_version: str):
    wheel = built_wheel()
    need(
        bool(wheel) and Path(wheel).is_file(), "no plugin wheel (FLOWO_PY_WHEEL; scripts/py-env.sh)"
    )
    venv = sandbox.root / "fresh-venv"
    run([sys.executable, "-m", "venv", str(venv)])
    pip_env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    cache = real_pip_cache()
    if cache:
        pip_env["PIP_CACHE_DIR"] = cache
    run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", wheel,
         f"snakemake=={snakemake_version}"],
        env=pip_env,
    )  # fmt: skip

    env = dict(sandbox.env, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    version = run([str(venv / "bin/flowo"), "--version"], env=env)
    assert plugin_version in version.stdout, version.stdout

    workdir = sandbox.workdir("success", "wheel")
    done = run(
        [str(venv / "bin/snakemake"), "--logger", "flowo", "--cores", "2"], cwd=workdir, env=env
    )
    announced = [m for line in done.stderr.splitlines() if (m := RECORDING.match(line))]
    assert len(announced) == 1, done.stderr
    run_id = announced[0].group(1)
    assert announced[0].group(2) == f"sqlite://{sandbox.data_dir}/flowo.db"
    assert (sandbox.data_dir / "flowo.db").is_file()

    listed = run([str(venv / "bin/flowo"), "runs", "list", "--json"], env=env)
    runs = json.loads(listed.stdout)
    if isinstance(runs, dict):
        runs = runs.get("items", [])
    mine = [r for r in runs if r.get("id") == run_id]
    assert len(mine) == 1, listed.stdout
    assert mine[0]["status"] == "succeeded", mine[0]
    assert mine[0]["jobs"]["succeeded"] == 9, mine[0]
