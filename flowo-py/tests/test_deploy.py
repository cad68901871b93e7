"""The container deployment, checked without a Docker engine: compose.yml, .env.example, the
Dockerfile and .dockerignore as structures (what Compose and BuildKit would read), the Caddyfile
as Caddy itself reads it with the environment compose.yml gives Caddy, and the image's
HEALTHCHECK command run against a real `flowo serve`.

Optional validators (not in the venv: scripts/py-env.sh's test tools): `check-jsonschema`
(the Compose specification's JSON schema it ships) and `dockerfile` (BuildKit's own Dockerfile
parser). Without them those two tests skip, or fail when CI is set, as does the Caddy test
without `caddy` on PATH.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import REPO, Sandbox, need

pytestmark = pytest.mark.deployment

COMPOSE_FILE = REPO / "compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
CARGO_TOML = REPO / "Cargo.toml"
PACKAGE_JSON = REPO / "frontend" / "package.json"

REPLICAS = ["flowo-1", "flowo-2"]
SERVICES = {"db", *REPLICAS, "caddy"}
# Variables that hold secrets; any other whose name says so counts too.
SECRETS = {"POSTGRES_PASSWORD", "FLOWO_JWT_SECRET"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)|CREDENTIAL", re.IGNORECASE)
DATA_DIR = "/var/lib/flowo"
PORT = 3100
CADDYFILE_IN_IMAGE = "/etc/caddy/Caddyfile"  # where the official caddy image's CMD reads it


def is_secret(name: str) -> bool:
    return name in SECRETS or bool(SECRET_NAME.search(name))


# --- Compose: files and interpolation ---------------------------------------------------------

# `$$` (a literal dollar), `${NAME...}` (with an optional modifier), `$NAME`, as Compose reads them.
REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>))"
)


@dataclass
class Reference:
    name: str
    op: str | None  # None, "-", ":-", "?", ":?", "+", ":+"
    arg: str | None
    text: str


def references(value: str) -> list[Reference]:
    """The variable references in one string value of compose.yml."""
    found = []
    for m in REFERENCE.finditer(value):
        if m.group("escaped"):
            continue
        if m.group("invalid") is not None:
            raise AssertionError(f"invalid interpolation in compose.yml value {value!r}")
        name = m.group("braced") or m.group("named")
        found.append(Reference(name, m.group("op"), m.group("arg"), m.group(0)))
    return found


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one value; a `?` reference to an unset (`:?`: or empty)
    variable raises, as `docker compose` refuses to start then."""

    def substitute(m: re.Match) -> str:
        if m.group("escaped"):
            return "$"
        if m.group("invalid") is not None:
            raise ValueError(f"invalid interpolation in {value!r}")
        name = m.group("braced") or m.group("named")
        op, arg = m.group("op"), m.group("arg") or ""
        current = env.get(name)
        present = current is not None and (current != "" or not (op or "").startswith(":"))
        if op in ("-", ":-"):
            return current if present else arg
        if op in ("?", ":?"):
            if not present:
                raise ValueError(f"{name}: {arg}")
            return current
        if op in ("+", ":+"):
            return arg if present else ""
        return current or ""

    return REFERENCE.sub(substitute, value)


def walk_strings(node, path: str = ""):
    """(path, string) for every string value in a parsed YAML document (keys excluded)."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield from walk_strings(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from walk_strings(child, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def interpolated(node, env: dict[str, str]):
    if isinstance(node, dict):
        return {key: interpolated(child, env) for key, child in node.items()}
    if isinstance(node, list):
        return [interpolated(child, env) for child in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    try:
        doc = yaml.safe_load(COMPOSE_FILE.read_text())
    except yaml.YAMLError as e:
        pytest.fail(f"compose.yml is not valid YAML: {e}")
    assert isinstance(doc, dict), "compose.yml is not a mapping"
    return doc


def env_example() -> dict[str, str]:
    """.env.example as Compose reads a .env file (KEY=VALUE lines, # comments)."""
    values = {}
    for n, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), (
            f".env.example:{n}: not KEY=VALUE: {line!r}"
        )
        assert key not in values, f".env.example:{n}: {key} given twice"
        values[key] = value.strip().strip("'\"")
    return values


def filled_env() -> dict[str, str]:
    """.env.example with every empty secret made up, as an operator would fill it in."""
    env = env_example()
    for key, value in env.items():
        if is_secret(key) and not value:
            env[key] = "0123456789abcdef" * 4
    return env


def service_env(service: dict) -> dict[str, str]:
    """A service's `environment`, in either of Compose's two forms."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = {}
        for item in env:
            key, _, value = item.partition("=")
            pairs[key] = value
        return pairs
    return {key: "" if value is None else str(value) for key, value in env.items()}


def image_tag(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    return name, tag


# --- Compose: the checks ----------------------------------------------------------------------


def test_compose_has_the_services(compose):
    assert "version" not in compose, (
        "compose.yml has a top-level `version:` key; the Compose specification has none"
    )
    services = compose.get("services") or {}
    assert set(services) == SERVICES, (
        f"compose.yml's services are {sorted(services)}, expected {sorted(SERVICES)}"
    )


def test_compose_images(compose):
    services = compose["services"]
    db_name, db_tag = image_tag(services["db"].get("image", ""))
    assert db_name == "postgres" and re.fullmatch(r"\d+(\.\d+)?(-[a-z0-9]+)?", db_tag), (
        f"db must run the official postgres image at a pinned major (postgres:17), "
        f"not {services['db'].get('image')!r}"
    )
    caddy_name, caddy_tag = image_tag(services["caddy"].get("image", ""))
    assert caddy_name == "caddy" and re.fullmatch(r"2(\.\d+)*(-[a-z0-9]+)?", caddy_tag), (
        f"caddy must run the official caddy:2 image, not {services['caddy'].get('image')!r}"
    )
    for name in REPLICAS:
        build = services[name].get("build")
        assert build, f"{name} must be built from the repository's Dockerfile (no `build:`)"
        context = build if isinstance(build, str) else build.get("context", ".")
        name_in_context = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        path = (COMPOSE_FILE.parent / context / name_in_context).resolve()
        assert path == DOCKERFILE.resolve(), (
            f"{name} builds {path}, not the repository's Dockerfile {DOCKERFILE}"
        )
        assert services[name].get("image"), (
            f"{name} has no `image:`; without one each replica builds and tags its own image"
        )


def named_volumes(service: dict) -> dict[str, str]:
    """Target path -> named volume, for a service's named-volume mounts."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        else:
            source, target, kind = volume.get("source"), volume.get("target"), volume.get("type")
        if kind == "volume" and source:
            mounts[target] = source
    return mounts


def test_compose_volumes(compose):
    services = compose["services"]
    declared = set(compose.get("volumes") or {})
    used = {v for s in services.values() for v in named_volumes(s).values()}
    assert used <= declared, f"volumes used but not declared at the top level: {used - declared}"
    assert declared <= used, f"volumes declared but used by no service: {declared - used}"
    for name in declared:
        spec = (compose.get("volumes") or {}).get(name) or {}
        assert not spec.get("external") and spec.get("driver", "local") == "local", (
            f"volume {name} must be a plain named volume compose creates, not {spec}"
        )
    # postgres:18 moved its data directory (PGDATA under /var/lib/postgresql/18/docker).
    major = int(re.match(r"\d+", image_tag(services["db"]["image"])[1]).group(0))
    pgdata = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    assert pgdata in named_volumes(services["db"]), (
        f"db keeps its data outside a named volume: mount one at {pgdata} (postgres:{major})"
    )
    for target in ("/data", "/config"):
        assert target in named_volumes(services["caddy"]), (
            f"caddy's {target} (certificates, its own state) is not on a named volume"
        )


def test_compose_healthchecks(compose):
    services = compose["services"]
    db = services["db"]
    check = db.get("healthcheck") or {}
    test = check.get("test")
    argv = test if isinstance(test, list) else ["CMD-SHELL", test or ""]
    command = " ".join(argv[1:]) if argv and argv[0] in ("CMD", "CMD-SHELL") else ""
    assert "pg_isready" in command, f"db's healthcheck must run pg_isready, not {test!r}"
    user = service_env(db).get("POSTGRES_USER", "postgres")
    assert re.search(rf"(-U|--username)[ =]{re.escape(user)}\b", command), (
        f"db's healthcheck must check the role the replicas use ({user}): {test!r}"
    )
    for name in REPLICAS:
        depends = services[name].get("depends_on") or {}
        condition = depends.get("db", {}).get("condition") if isinstance(depends, dict) else None
        assert condition == "service_healthy", (
            f"{name} must wait for a healthy db (depends_on.db.condition: service_healthy), "
            f"not {depends!r}"
        )
        hc = services[name].get("healthcheck") or {}
        assert not hc.get("disable") and hc.get("test") not in (["NONE"], "NONE"), (
            f"{name} turns off the image's HEALTHCHECK"
        )


def test_compose_secrets_are_required(compose):
    seen = set()
    for path, value in walk_strings(compose):
        for ref in references(value):
            if not is_secret(ref.name):
                continue
            seen.add(ref.name)
            assert ref.op == ":?" and ref.arg, (
                f"compose.yml {path}: secret {ref.name} must be `${{{ref.name}:?message}}` "
                f"(required, no default), not {ref.text!r}"
            )
    assert SECRETS <= seen, f"compose.yml never reads {sorted(SECRETS - seen)}"


REQUIRED_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}")
URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^:/@\s]+:(?P<password>.+)@[^@]+$")


def test_compose_has_no_literal_secrets(compose):
    for service_name, service in compose["services"].items():
        for key, value in service_env(service).items():
            where = f"services.{service_name}.environment.{key}"
            if is_secret(key):
                assert REQUIRED_REFERENCE.fullmatch(value), (
                    f"{where} is a secret: it must be only `${{VAR:?message}}`, not {value!r}"
                )
    for path, value in walk_strings(compose):
        if m := URL_PASSWORD.match(value):
            assert REQUIRED_REFERENCE.fullmatch(m.group("password")), (
                f"compose.yml {path}: the URL's password must be a `${{VAR:?message}}` "
                f"reference, not a literal ({value!r})"
            )


def test_only_caddy_publishes_ports(compose):
    services = compose["services"]
    for name, service in services.items():
        assert service.get("network_mode") != "host", f"{name} uses the host's network"
        if name != "caddy":
            assert not service.get("ports"), (
                f"{name} publishes ports {service['ports']}: only caddy may"
            )
    published = set()
    for port in services["caddy"].get("ports") or []:
        if isinstance(port, dict):
            published.add(
                f"{port.get('published')}:{port.get('target')}/{port.get('protocol', 'tcp')}"
            )
        else:
            spec, _, proto = str(port).partition("/")
            published.add(f"{spec.split(':', spec.count(':') - 1)[-1]}/{proto or 'tcp'}")
    expected = {"80:80/tcp", "443:443/tcp", "443:443/udp"}
    assert published == expected, (
        f"caddy publishes {sorted(published)}, expected {sorted(expected)}"
    )


def test_replicas_are_identical_but_for_their_names(compose):
    services = compose["services"]
    replicas = sorted(n for n in services if n.startswith("flowo"))
    assert replicas == REPLICAS, f"the replicas are {replicas}, expected {REPLICAS}"
    first, *others = (services[n] for n in REPLICAS)
    for name, other in zip(REPLICAS[1:], others, strict=True):
        differ = sorted(k for k in set(first) | set(other) if first.get(k) != other.get(k))
        assert not differ, f"{REPLICAS[0]} and {name} differ in {differ}"
    for key in ("container_name", "hostname"):
        assert key not in first, f"the replicas set {key}: their service names are their names"

    env = service_env(first)
    db_env = service_env(services["db"])
    url = env.get("FLOWO_DATABASE_URL", "")
    m = re.fullmatch(
        r"postgres(?:ql)?://(?P<user>[^:@]+):(?P<pw>.+)@(?P<host>[^:/]+):(?P<port>\d+)/(?P<db>\w+)",
        url,
    )
    assert m, (
        f"the replicas' FLOWO_DATABASE_URL is not postgres://USER:PASSWORD@db:5432/DB: {url!r}"
    )
    assert (m["user"], m["host"], m["port"], m["db"]) == (
        db_env.get("POSTGRES_USER", "postgres"),
        "db",
        "5432",
        db_env.get("POSTGRES_DB", db_env.get("POSTGRES_USER", "postgres")),
    ), f"FLOWO_DATABASE_URL {url!r} does not name db's role and database ({db_env})"
    assert [r.name for r in references(m["pw"])] == ["POSTGRES_PASSWORD"], (
        f"FLOWO_DATABASE_URL's password must be POSTGRES_PASSWORD, the one db is made with: {url!r}"
    )
    assert [r.name for r in references(env.get("FLOWO_JWT_SECRET", ""))] == ["FLOWO_JWT_SECRET"], (
        "the replicas must all sign sessions with FLOWO_JWT_SECRET"
    )
    assert env.get("FLOWO_SECURE_COOKIES", "").lower() == "true", (
        "the replicas are served over TLS by Caddy: FLOWO_SECURE_COOKIES must be true"
    )
    assert first.get("restart") == "unless-stopped", (
        f"the replicas must restart unless stopped, not {first.get('restart')!r}"
    )

    caddy = services["caddy"]
    upstreams = service_env(caddy).get("FLOWO_UPSTREAMS", "").split()
    assert upstreams == [f"{n}:{PORT}" for n in REPLICAS], (
        f"caddy's FLOWO_UPSTREAMS {upstreams} must name every replica at port {PORT}"
    )
    depends = caddy.get("depends_on") or []
    assert set(REPLICAS) <= set(depends), f"caddy must depend on the replicas, not {depends!r}"


def test_env_example_lists_every_variable(compose):
    assert ENV_EXAMPLE.is_file(), f"{ENV_EXAMPLE} is missing"
    used = {ref.name for _, value in walk_strings(compose) for ref in references(value)}
    listed = env_example()
    assert used - set(listed) == set(), (
        f"compose.yml reads {sorted(used - set(listed))}, which .env.example does not list"
    )
    assert set(listed) - used == set(), (
        f".env.example lists {sorted(set(listed) - used)}, which compose.yml never reads"
    )
    text = ENV_EXAMPLE.read_text()
    for key, value in listed.items():
        block = re.search(rf"((?:^#.*\n)+)^{key}=", text, re.MULTILINE)
        assert block, f".env.example: {key} has no comment above it saying what it is"
        if is_secret(key):
            assert value == "", f".env.example gives secret {key} a value: leave it empty"
            assert "openssl rand -hex 32" in block.group(1), (
                f".env.example: {key}'s comment must say how to make it (`openssl rand -hex 32`)"
            )
        else:
            assert value, f".env.example: {key} needs an example value"
    # With the secrets left empty, compose refuses to start, naming each.
    for key in SECRETS:
        with pytest.raises(ValueError, match=key):
            interpolated(compose, {**listed, **{k: "x" for k in SECRETS if k != key}})
    interpolated(compose, filled_env())  # filled in, every reference resolves


def caddyfile_mount(compose) -> tuple[Path, str, bool]:
    for volume in compose["services"]["caddy"].get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target, mode = parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"
            read_only = "ro" in mode.split(",")
        else:
            source, target = volume.get("source", ""), volume.get("target", "")
            read_only = bool(volume.get("read_only"))
        if target == CADDYFILE_IN_IMAGE:
            return (COMPOSE_FILE.parent / source).resolve(), target, read_only
    pytest.fail(f"caddy mounts nothing at {CADDYFILE_IN_IMAGE}, where its image reads the config")


def test_caddyfile_mount_exists(compose):
    source, _, read_only = caddyfile_mount(compose)
    assert source.is_file(), f"caddy mounts {source} at {CADDYFILE_IN_IMAGE}, which does not exist"
    assert source.is_relative_to(REPO), f"caddy's Caddyfile {source} is outside the repository"
    assert read_only, f"caddy must mount {source} read-only (`:ro`)"


def test_compose_matches_the_compose_specification():
    need(
        importlib.util.find_spec("check_jsonschema") is not None,
        "check-jsonschema (with the Compose specification's schema) is not installed in this venv",
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, (
        f"compose.yml does not match the Compose specification's schema:\n{out.stdout}{out.stderr}"
    )


# --- Caddy ------------------------------------------------------------------------------------


def handlers(node):
    """Every handler object in Caddy's JSON config, however deeply routed."""
    if isinstance(node, dict):
        if "handler" in node:
            yield node
        for child in node.values():
            yield from handlers(child)
    elif isinstance(node, list):
        for child in node:
            yield from handlers(child)


def header_value_matches(pattern: str, value: str) -> bool:
    """Caddy's response header matching: `*` alone, or as a prefix and/or suffix wildcard."""
    if pattern == "*":
        return True
    if pattern.startswith("*") and pattern.endswith("*"):
        return pattern[1:-1] in value
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def response_matches(matcher: dict | None, status: int, headers: dict[str, str]) -> bool:
    """Whether Caddy's ResponseMatcher applies to a response (no matcher: every response)."""
    if not matcher:
        return True
    codes = matcher.get("status_code")
    if codes and not any(status == c or (c < 100 and status // 100 == c) for c in codes):
        return False
    lowered = {k.lower(): v for k, v in headers.items()}
    for field_name, patterns in (matcher.get("headers") or {}).items():
        value = lowered.get(field_name.lower())
        if patterns is None:
            if value is not None:
                return False
            continue
        if value is None or not any(header_value_matches(p, value) for p in patterns):
            return False
    return True


def test_caddyfile_is_valid_for_caddy(compose, tmp_path):
    caddy = shutil.which("caddy")
    need(caddy is not None, "caddy is not on PATH (Debian's package `caddy`)")
    source, _, _ = caddyfile_mount(compose)
    site_env = filled_env()
    env = interpolated(service_env(compose["services"]["caddy"]), site_env)
    missing = {"FLOWO_SITE", "FLOWO_UPSTREAMS"} - set(env)
    assert not missing, f"compose.yml gives caddy no {sorted(missing)}, which the Caddyfile reads"
    home = tmp_path / "home"
    home.mkdir()
    run_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        **env,
    }
    out = subprocess.run(
        [caddy, "adapt", "--config", str(source), "--adapter", "caddyfile", "--validate"],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, f"caddy rejects {source} with {env}:\n{out.stderr}"
    config = json.loads(out.stdout)

    hosts = [
        h
        for server in config["apps"]["http"]["servers"].values()
        for r in server["routes"]
        for m in r.get("match", [])
        for h in m.get("host", [])
    ]
    site_host = re.sub(r"^[a-z]+://", "", env["FLOWO_SITE"]).rsplit(":", 1)[0]
    assert not site_host or site_host in hosts, (
        f"the site {env['FLOWO_SITE']!r} (FLOWO_SITE) is not served; hosts: {hosts}"
    )

    proxies = [h for h in handlers(config) if h["handler"] == "reverse_proxy"]
    assert len(proxies) == 1, f"expected one reverse_proxy, found {len(proxies)}"
    proxy = proxies[0]
    dials = [u.get("dial") for u in proxy.get("upstreams", [])]
    assert dials == [f"{n}:{PORT}" for n in REPLICAS], f"the upstreams are {dials}"
    assert proxy.get("flush_interval") == -1, (
        f"flush_interval is {proxy.get('flush_interval')!r}: the live stream (SSE) needs -1"
    )
    active = (proxy.get("health_checks") or {}).get("active") or {}
    assert (active.get("uri") or active.get("path")) == "/readyz", (
        f"no active health check on /readyz: {proxy.get('health_checks')}"
    )
    try_duration = (proxy.get("load_balancing") or {}).get("try_duration", 0)
    assert try_duration > 0, (
        "load_balancing.try_duration is 0: a request to a replica that is down fails "
        "instead of going to another"
    )

    sse = {"Content-Type": "text/event-stream"}
    for encode in (h for h in handlers(config) if h["handler"] == "encode"):
        assert not response_matches(encode.get("match"), 200, sse), (
            f"the encode handler compresses text/event-stream (buffering the live stream): "
            f"its match is {encode.get('match')}"
        )
        json_answer = {"Content-Type": "application/json"}
        assert response_matches(encode.get("match"), 200, json_answer), (
            f"the encode handler no longer compresses JSON: its match is {encode.get('match')}"
        )


# --- Dockerfile -------------------------------------------------------------------------------


@dataclass
class Instruction:
    line: int
    cmd: str  # upper case
    flags: list[tuple[str, str]]  # ("from", "build"), ("mount", "type=cache,..."), ...
    rest: str  # after the flags
    exec_form: list[str] | None  # the JSON array form, if used

    def flag(self, name: str) -> str | None:
        return next((v for k, v in self.flags if k == name), None)

    def words(self) -> list[str]:
        return self.exec_form if self.exec_form is not None else shlex.split(self.rest)


@dataclass
class Stage:
    index: int
    line: int
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, cmd: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd == cmd]

    def workdir(self, before: Instruction | None = None) -> str:
        """The WORKDIR in effect at `before` (default: at the end of the stage)."""
        path = "/"
        for i in self.instructions:
            if i is before:
                break
            if i.cmd == "WORKDIR":
                path = str(Path(path) / i.rest)
        return path

    def env(self) -> dict[str, str]:
        values = {}
        for i in self.all("ENV"):
            values.update(key_values(i.rest))
        return values


def key_values(text: str) -> dict[str, str]:
    """ENV/LABEL arguments: `K=V K2="v 2"`, or the old `K V` form."""
    words = shlex.split(text)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each instruction: comments dropped, continuations joined."""
    out, current, start = [], "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if not current:
            start = n
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        out.append((start, current.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return out


def parse_dockerfile(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for line, content in logical_lines(text):
        cmd, _, rest = content.partition(" ")
        cmd, rest = cmd.upper(), rest.strip()
        assert "<<" not in rest or cmd not in ("RUN", "COPY"), (
            f"Dockerfile:{line}: heredocs are not understood by this test's parser"
        )
        flags = []
        while rest.startswith("--"):
            word, _, rest = rest.partition(" ")
            name, _, value = word[2:].partition("=")
            flags.append((name, value))
            rest = rest.strip()
        exec_form = None
        body = (
            rest[4:].strip() if cmd == "HEALTHCHECK" and rest.upper().startswith("CMD ") else rest
        )
        if body.startswith("["):
            try:
                exec_form = json.loads(body)
            except json.JSONDecodeError:
                exec_form = None
        instruction = Instruction(line, cmd, flags, rest, exec_form)
        if cmd == "FROM":
            words = rest.split()
            assert len(words) in (1, 3) and (len(words) == 1 or words[1].upper() == "AS"), (
                f"Dockerfile:{line}: FROM IMAGE [AS NAME] expected: {content!r}"
            )
            assert "$" not in words[0], f"Dockerfile:{line}: base image from a build ARG"
            stages.append(Stage(len(stages), line, words[0], words[2] if len(words) == 3 else None))
        else:
            assert stages, f"Dockerfile:{line}: {cmd} before the first FROM"
            stages[-1].instructions.append(instruction)
    return stages


@pytest.fixture(scope="module")
def dockerfile() -> list[Stage]:
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    return parse_dockerfile(DOCKERFILE.read_text())


def stage_of(stages: list[Stage], image: str) -> Stage:
    found = [s for s in stages if image_tag(s.image)[0] == image]
    assert len(found) == 1, f"expected one stage FROM {image}, found {[s.image for s in stages]}"
    return found[0]


def cargo() -> dict:
    return tomllib.loads(CARGO_TOML.read_text())


def debian_release(image: str) -> str | None:
    tag = image_tag(image)[1]
    if m := re.search(r"(bookworm|trixie|bullseye)", tag):
        return m.group(1)
    if m := re.search(r"debian(\d+)", image):
        return {"11": "bullseye", "12": "bookworm", "13": "trixie"}[m.group(1)]
    return None


def test_dockerfile_stages(dockerfile):
    images = [image_tag(s.image)[0] for s in dockerfile]
    assert len(dockerfile) == 3 and images[:2] == ["node", "rust"], (
        f"expected the stages node (dashboard), rust (binary), runtime; found {images}"
    )
    final = dockerfile[-1]
    assert final.image == "debian:bookworm-slim" or final.image.startswith(
        "gcr.io/distroless/cc"
    ), f"the runtime stage must be debian:bookworm-slim or distroless cc, not {final.image}"
    names = [s.name for s in dockerfile[:-1]]
    assert all(names) and len(set(names)) == len(names), f"build stages need unique names: {names}"

    node = stage_of(dockerfile, "node")
    tag = image_tag(node.image)[1]
    m = re.match(r"(\d+)(?:\.(\d+))?", tag)
    assert m, f"the node image must be pinned to a major (node:24-slim), not {node.image}"
    major, minor = int(m.group(1)), int(m.group(2) or 99)
    assert (major, minor) >= (20, 19), f"the dashboard needs Node >= 20.19, {node.image} has {tag}"

    rust = stage_of(dockerfile, "rust")
    wanted = tuple(int(p) for p in cargo()["workspace"]["package"]["rust-version"].split("."))
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", image_tag(rust.image)[1])
    assert m, f"the rust image must name its version (rust:1.95-bookworm), not {rust.image}"
    have = tuple(int(p) for p in m.groups() if p is not None)
    assert have >= wanted[: len(have)], (
        f"{rust.image} is older than the workspace's rust-version {'.'.join(map(str, wanted))}"
    )
    # The binary links glibc dynamically: it must be built on the runtime's Debian release.
    assert debian_release(rust.image) == debian_release(final.image) is not None, (
        f"{rust.image} and {final.image} are not the same Debian release"
    )


def test_dockerfile_runtime_stage(dockerfile):
    final = dockerfile[-1]
    users = final.all("USER")
    assert users, "the runtime stage has no USER: the server would run as root"
    user = users[-1].rest
    m = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    assert m and int(m.group(1)) != 0, f"USER must be a numeric, non-root uid[:gid], not {user!r}"
    uid = m.group(1)

    env = final.env()
    assert env.get("FLOWO_BIND") == f"0.0.0.0:{PORT}", (
        f"ENV FLOWO_BIND is {env.get('FLOWO_BIND')!r}"
    )
    assert env.get("FLOWO_DATA_DIR") == DATA_DIR, (
        f"ENV FLOWO_DATA_DIR is {env.get('FLOWO_DATA_DIR')!r}"
    )
    exposed = [w for i in final.all("EXPOSE") for w in i.words()]
    assert exposed == [str(PORT)] or exposed == [f"{PORT}/tcp"], (
        f"EXPOSE is {exposed}, expected {PORT}"
    )
    volumes = [w for i in final.all("VOLUME") for w in i.words()]
    assert DATA_DIR in volumes, f"the data directory {DATA_DIR} is not a VOLUME ({volumes})"
    # The volume starts as a copy of the image's directory: it must belong to the user.
    runs = " ".join(i.rest for i in final.all("RUN"))
    assert re.search(
        rf"(install\s+-d\b[^&;|]*-o\s+{uid}\b[^&;|]*\s{re.escape(DATA_DIR)}\b"
        rf"|chown\s+(-R\s+)?{uid}(:\d+)?\s+{re.escape(DATA_DIR)}\b)",
        runs,
    ), f"no RUN makes {DATA_DIR} belong to uid {uid} (`install -d -o {uid}` or `chown`)"

    entrypoint = final.all("ENTRYPOINT")
    assert entrypoint and entrypoint[-1].exec_form == ["flowo"], (
        f'ENTRYPOINT must be ["flowo"] (exec form), not {entrypoint[-1].rest if entrypoint else ""}'
    )
    cmd = final.all("CMD")
    assert cmd and cmd[-1].exec_form == ["serve"], 'CMD must be ["serve"] (exec form)'
    checks = final.all("HEALTHCHECK")
    assert checks and checks[-1].exec_form, (
        "no HEALTHCHECK CMD [...] (exec form) in the runtime stage"
    )
    argv = checks[-1].exec_form
    assert argv == ["flowo", "health", "--url", f"http://127.0.0.1:{PORT}"], (
        f"HEALTHCHECK must run `flowo health --url http://127.0.0.1:{PORT}`, not {argv}"
    )

    labels = {}
    for i in final.all("LABEL"):
        labels.update(key_values(i.rest))
    package = cargo()["workspace"]["package"]
    for key in ("title", "description", "source", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), (
            f"no LABEL org.opencontainers.image.{key}"
        )
    assert labels["org.opencontainers.image.licenses"] == package["license"], (
        f"the licenses label is not Cargo.toml's license {package['license']!r}"
    )
    assert labels["org.opencontainers.image.source"] == package["repository"], (
        f"the source label is not Cargo.toml's repository {package['repository']!r}"
    )


def test_dockerfile_bakes_in_no_secret(dockerfile):
    for stage in dockerfile:
        for i in stage.all("ENV") + stage.all("ARG") + stage.all("LABEL"):
            for key in key_values(i.rest) if i.cmd != "ARG" else [i.rest.split("=")[0]]:
                assert not is_secret(key), (
                    f"Dockerfile:{i.line}: {i.cmd} {key} bakes a secret into the image"
                )


class DockerIgnore:
    """.dockerignore as BuildKit applies it: Go filepath.Match patterns plus `**`, `!`
    exceptions, the last matching pattern wins, and a pattern matching a parent directory
    matches everything below it."""

    def __init__(self, text: str) -> None:
        self.patterns: list[tuple[re.Pattern, bool]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclude = not line.startswith("!")
            pattern = line.lstrip("!").strip().strip("/")
            self.patterns.append((re.compile(self._regex(pattern)), exclude))

    @staticmethod
    def _regex(pattern: str) -> str:
        out, i = "", 0
        while i < len(pattern):
            c = pattern[i]
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
                continue
            if pattern.startswith("**", i):
                out += ".*"
                i += 2
                continue
            if c == "*":
                out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[":
                end = pattern.index("]", i)
                out += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
                i = end
            else:
                out += re.escape(c)
            i += 1
        return out

    def excluded(self, path: str) -> bool:
        path = str(Path(path)).strip("/")
        parts = path.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for regex, exclude in self.patterns:
            if any(regex.fullmatch(c) for c in candidates):
                result = exclude
        return result


@pytest.fixture(scope="module")
def dockerignore() -> DockerIgnore:
    assert DOCKERIGNORE.is_file(), f"{DOCKERIGNORE} is missing"
    return DockerIgnore(DOCKERIGNORE.read_text())


def test_dockerignore_keeps_out_build_output_and_secrets(dockerignore):
    for path in (
        "target/release/flowo",
        "flowo-cli/target/x",
        "frontend/node_modules/vite/package.json",
        "frontend/dist/index.html",
        ".git/HEAD",
        ".env",
        "flowo.db",
    ):
        assert dockerignore.excluded(path), f".dockerignore lets {path} into the build context"


def tracked_files(path: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"git ls-files failed: {out.stderr}"
    return [p for p in out.stdout.split("\0") if p and (REPO / p).exists()]


def copy_sources(i: Instruction) -> tuple[list[str], str]:
    words = i.words()
    assert len(words) >= 2, f"Dockerfile:{i.line}: COPY needs a source and a destination"
    return words[:-1], words[-1]


def test_dockerfile_copies_exist_and_are_not_ignored(dockerfile, dockerignore):
    for stage in dockerfile:
        for i in stage.all("COPY") + stage.all("ADD"):
            if i.flag("from"):
                continue
            sources, _ = copy_sources(i)
            for source in sources:
                path = REPO / source
                assert path.exists(), f"Dockerfile:{i.line}: COPY {source}: not in the repository"
                if source.strip("/") not in ("", "."):
                    assert not dockerignore.excluded(source), (
                        f"Dockerfile:{i.line}: COPY {source}: excluded by .dockerignore"
                    )
                if path.is_dir():
                    ignored = [f for f in tracked_files(source) if dockerignore.excluded(f)]
                    assert not ignored, (
                        f"Dockerfile:{i.line}: COPY {source}: .dockerignore keeps out committed "
                        f"files {ignored[:10]}"
                    )


def test_dockerfile_copy_from_names_an_earlier_stage(dockerfile):
    for stage in dockerfile:
        earlier = {s.name for s in dockerfile[: stage.index]} | {str(n) for n in range(stage.index)}
        for i in stage.all("COPY"):
            source_stage = i.flag("from")
            if source_stage is None:
                continue
            assert source_stage in earlier, (
                f"Dockerfile:{i.line}: COPY --from={source_stage} names no earlier stage "
                f"({sorted(filter(None, earlier))})"
            )
            producer = next(
                s for s in dockerfile if s.name == source_stage or str(s.index) == source_stage
            )
            sources, _ = copy_sources(i)
            runs = " ".join(r.rest for r in producer.all("RUN"))
            for source in sources:
                assert source.startswith(producer.workdir().rstrip("/") + "/") or source in runs, (
                    f"Dockerfile:{i.line}: {source} is neither under stage {source_stage}'s "
                    f"WORKDIR {producer.workdir()} nor written by one of its RUNs"
                )


def run_commands(stage: Stage) -> list[list[str]]:
    """Each simple command of each RUN (split at &&, ;, ||)."""
    commands = []
    for i in stage.all("RUN"):
        for part in re.split(r"&&|\|\||;", i.rest):
            words = shlex.split(part)
            if words:
                commands.append(words)
    return commands


def test_dockerfile_builds_the_dashboard_before_the_binary(dockerfile):
    node = stage_of(dockerfile, "node")
    scripts = json.loads(PACKAGE_JSON.read_text())["scripts"]
    npm = [c for c in run_commands(node) if c[0] == "npm"]
    assert ["npm", "ci"] in [c[:2] for c in npm], (
        "the node stage never runs `npm ci` (the lock file)"
    )
    run_scripts = [c[2] for c in npm if c[1:2] == ["run"]]
    assert run_scripts, "the node stage runs no npm script to build the dashboard"
    for script in run_scripts:
        assert script in scripts, f"`npm run {script}`: frontend/package.json has no such script"
    assert run_scripts[-1] in ("bundle", "build"), (
        f"the dashboard is built by `npm run {run_scripts[-1]}`?"
    )

    # Layer cache: the package files, then `npm ci`, then the sources.
    order = [
        (i.cmd, i.words() if i.cmd == "COPY" else i.rest)
        for i in node.instructions
        if i.cmd in ("COPY", "RUN")
    ]
    ci_at = next(n for n, (cmd, rest) in enumerate(order) if cmd == "RUN" and "npm ci" in rest)
    before = [w for cmd, words in order[:ci_at] if cmd == "COPY" for w in words[:-1]]
    assert sorted(before) == ["frontend/package-lock.json", "frontend/package.json"], (
        f"before `npm ci` the node stage must copy only package.json and package-lock.json "
        f"(so that new sources reuse the installed packages), not {before}"
    )
    after = [w for cmd, words in order[ci_at:] if cmd == "COPY" for w in words[:-1]]
    assert after and all(w.rstrip("/") == "frontend" for w in after), (
        f"after `npm ci` the node stage must copy the frontend's sources, not {after}"
    )

    # flowo-http embeds <workspace>/frontend/dist; vite writes <frontend>/<outDir>.
    out_dir = re.search(
        r"outDir:\s*[\"']([^\"']+)", (REPO / "frontend" / "vite.config.ts").read_text()
    )
    out_dir = out_dir.group(1) if out_dir else "dist"
    rust = stage_of(dockerfile, "rust")
    copies = [i for i in rust.all("COPY") if i.flag("from") == node.name]
    assert len(copies) == 1, f"the rust stage must copy the dashboard from stage {node.name} once"
    (source,), dest = copy_sources(copies[0])
    assert source.rstrip("/") == f"{node.workdir().rstrip('/')}/{out_dir}", (
        f"Dockerfile:{copies[0].line}: the dashboard is built into "
        f"{node.workdir()}/{out_dir}, not {source}"
    )
    cargo_at = next(i for i in rust.instructions if i.cmd == "RUN" and "cargo build" in i.rest)
    root = Path(rust.workdir(cargo_at))
    assert Path(rust.workdir(copies[0])) / dest == root / "frontend" / "dist", (
        f"Dockerfile:{copies[0].line}: flowo-http embeds {root}/frontend/dist, not {dest}"
    )
    assert rust.instructions.index(copies[0]) < rust.instructions.index(cargo_at), (
        "the dashboard is copied after cargo build: the binary would not embed it"
    )


def landing(stage: Stage, repo_path: str) -> Path | None:
    """Where the stage's COPYs from the build context put the repository's file `repo_path`
    (a directory source copies its contents; the last COPY wins)."""
    found = None
    for i in stage.all("COPY"):
        if i.flag("from"):
            continue
        sources, dest = copy_sources(i)
        dest_path = Path(stage.workdir(i)) / dest
        into_dir = dest.endswith("/") or dest in (".", "..") or len(sources) > 1
        for source in sources:
            source_path = Path(source)  # normalises "frontend/" and "./"
            if (REPO / source_path).is_dir():
                if source_path == Path(".") or Path(repo_path).is_relative_to(source_path):
                    found = dest_path / Path(repo_path).relative_to(source_path)
            elif source_path == Path(repo_path):
                found = dest_path / source_path.name if into_dir else dest_path
    return found


def test_dockerfile_builds_the_flowo_binary(dockerfile):
    rust = stage_of(dockerfile, "rust")
    workspace = cargo()["workspace"]
    packages = {}
    for member in workspace["members"]:
        manifest = tomllib.loads((REPO / member / "Cargo.toml").read_text())
        packages[manifest["package"]["name"]] = (member, manifest)

    # Cargo.toml, Cargo.lock and every member must be in the image's workspace (the WORKDIR
    # where cargo runs), or Cargo cannot load it.
    cargo_at = next(i for i in rust.instructions if i.cmd == "RUN" and "cargo build" in i.rest)
    root = Path(rust.workdir(cargo_at))
    for needed in ["Cargo.toml", "Cargo.lock", *(f"{m}/Cargo.toml" for m in workspace["members"])]:
        assert landing(rust, needed) == root / needed, (
            f"the rust stage does not copy {needed} to {root / needed} "
            f"(it lands at {landing(rust, needed)})"
        )

    builds = [c for c in run_commands(rust) if c[:2] == ["cargo", "build"]]
    assert len(builds) == 1, f"expected one `cargo build` in the rust stage, found {builds}"
    build = builds[0]
    assert "--release" in build and "--locked" in build, (
        f"`{' '.join(build)}` needs --release --locked"
    )
    package = build[build.index("-p") + 1] if "-p" in build else None
    assert package in packages, f"`cargo build -p {package}`: no workspace member is named so"
    bins = [b["name"] for b in packages[package][1].get("bin", [])] or [package]
    assert "flowo" in bins, f"package {package} builds no `flowo` binary ({bins})"
    runs = " ".join(i.rest for i in rust.all("RUN"))
    assert "target/release/flowo" in runs, "the rust stage never takes target/release/flowo"

    final = dockerfile[-1]
    installed = [copy_sources(i) for i in final.all("COPY") if i.flag("from") == rust.name]
    assert any(
        dest in ("/usr/local/bin/flowo", "/usr/local/bin/", "/usr/bin/flowo")
        for _, dest in installed
    ), f"the runtime stage puts no flowo on PATH: {installed}"


def test_dockerfile_reads_alike_with_buildkits_parser(dockerfile):
    """This test's parser and BuildKit's (the `dockerfile` package) read the same instructions."""
    need(
        importlib.util.find_spec("dockerfile") is not None,
        "the `dockerfile` package (BuildKit's parser) is not installed in this venv",
    )
    import dockerfile as buildkit

    try:
        commands = buildkit.parse_file(str(DOCKERFILE))
    except buildkit.GoParseError as e:
        pytest.fail(f"BuildKit's parser rejects the Dockerfile: {e}")
    theirs = [(c.cmd.upper(), c.start_line) for c in commands]
    ours = []
    for stage in dockerfile:
        ours.append(("FROM", stage.line))
        ours.extend((i.cmd, i.line) for i in stage.instructions)
    assert theirs == ours, (
        f"the instructions (and their lines) differ:\nBuildKit: {theirs}\nthis test: {ours}"
    )
    mine = [i for s in dockerfile for i in s.instructions]
    for c, i in zip((c for c in commands if c.cmd.upper() != "FROM"), mine, strict=True):
        flags = [f"--{k}={v}" if v else f"--{k}" for k, v in i.flags]
        assert list(c.flags) == flags, (
            f"Dockerfile:{i.line}: BuildKit reads the flags {list(c.flags)}, this test {flags}"
        )
        if c.json:
            value = list(c.value[1:]) if c.cmd.upper() == "HEALTHCHECK" else list(c.value)
            assert value == i.exec_form, (
                f"Dockerfile:{i.line}: BuildKit reads {value}, this test {i.exec_form}"
            )


# --- the image's HEALTHCHECK, run -------------------------------------------------------------


def test_healthcheck_command_answers_for_a_real_server(
    dockerfile, compose, flowo, sandbox: Sandbox, make_server
):
    """The runtime stage's HEALTHCHECK argv (its URL pointed at a test server) with the
    environment a replica has: 0 while the server is ready, 1 once it is gone."""
    checks = dockerfile[-1].all("HEALTHCHECK")
    assert checks and checks[-1].exec_form, "no HEALTHCHECK CMD [...] in the runtime stage"
    argv = checks[-1].exec_form
    assert argv[-1].startswith("http://"), f"the HEALTHCHECK does not end with its URL: {argv}"
    server = make_server(None).start()
    argv = [str(flowo), *argv[1:-1], server.url]
    env = {
        **sandbox.env,
        **interpolated(service_env(compose["services"][REPLICAS[0]]), filled_env()),
    }
    # The replica's database (the compose host `db`) is not here; the check must not need it.
    env["FLOWO_DATABASE_URL"] = "postgres://flowo:x@127.0.0.1:1/flowo"
    up = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, (
        f"{argv} -> {up.returncode} with the server up:\n{up.stdout}{up.stderr}"
    )
    server.stop()
    down = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 1, (
        f"{argv} -> {down.returncode} with the server gone, expected 1:\n{down.stdout}{down.stderr}"
    )
