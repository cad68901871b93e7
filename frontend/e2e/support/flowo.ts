// The real parts the end-to-end tests drive: a `flowo serve` process on the embedded store in a
// private temporary world, FlowO's HTTP API with a bearer token, and real Snakemake runs of
// examples/snakemake/demo with `--logger flowo` pointed at that server.
//
// Environment:
// - FLOWO_BIN: the `flowo` binary, built with the dashboard embedded (default
//   $CARGO_TARGET_DIR/release/flowo, else ~/.cache/flowo/target/release/flowo as scripts/py-env.sh
//   builds it);
// - FLOWO_E2E_VENV: a venv with Snakemake and the plugin wheel (default the newest Snakemake
//   venv scripts/py-env.sh makes, $FLOWO_CACHE/venv-snakemake-9-newest).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const FRONTEND = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const REPO = resolve(FRONTEND, "..");
const CACHE = process.env.FLOWO_CACHE ?? join(homedir(), ".cache/flowo");

/** Safety nets only: a hung process fails the test instead of hanging the suite. */
export const WAIT_MS = 120_000;

export function flowoBin(): string {
  const bin = process.env.FLOWO_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(CACHE, "target"), "release/flowo");
  if (!existsSync(bin)) {
    throw new Error(
      `no flowo binary at ${bin}: build it after the dashboard (scripts/frontend.sh --build-only, then ` +
        "cargo build --release -p flowo-cli), or set FLOWO_BIN",
    );
  }
  return bin;
}

export function snakemakeVenv(): string {
  const venv = process.env.FLOWO_E2E_VENV ?? join(CACHE, "venv-snakemake-9-newest");
  if (!existsSync(join(venv, "bin/snakemake"))) {
    throw new Error(`no snakemake in ${venv}: run scripts/py-env.sh, or set FLOWO_E2E_VENV to a venv with the plugin`);
  }
  return venv;
}

/** Polls `check` until it returns something truthy; throws after `timeout` ms. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeout = WAIT_MS): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A private world: home, XDG directories and FLOWO_DATA_DIR under one temporary directory, and
 * an environment that points at them and carries nothing FlowO or Snakemake would read from the
 * machine.
 */
export class Sandbox {
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(parent: string) {
    mkdirSync(parent, { recursive: true });
    this.root = mkdtempSync(join(parent, "flowo-"));
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (/^(FLOWO_|SNAKEMAKE_|XDG_|VIRTUAL_ENV|PYTHON)/.test(k) || k === "CI") continue;
      env[k] = v;
    }
    const dir = (name: string) => {
      const path = join(this.root, name);
      mkdirSync(path, { recursive: true });
      return path;
    };
    Object.assign(env, {
      HOME: dir("home"),
      XDG_CONFIG_HOME: dir("config"),
      XDG_DATA_HOME: dir("data"),
      XDG_CACHE_HOME: dir("cache"),
      XDG_STATE_HOME: dir("state"),
      FLOWO_DATA_DIR: dir("flowo-data"),
      LC_ALL: "C.UTF-8",
    });
    this.env = env;
  }

  get dataDir(): string {
    return this.env.FLOWO_DATA_DIR as string;
  }

  /** A fresh copy of examples/snakemake/demo. */
  demoWorkdir(name: string): string {
    const dest = join(this.root, "work", name);
    cpSync(join(REPO, "examples/snakemake/demo"), dest, { recursive: true });
    return dest;
  }
}

const READY = /^FlowO is ready: open (http:\/\/127\.0\.0\.1:(\d+))\/(?:login\?first-login=(\S+))?/;

/**
 * A `flowo serve` process on the embedded store of its sandbox. The port, once known, is kept
 * across restarts, so the browser reconnects to the same address.
 */
export class FlowoServer {
  readonly sandbox: Sandbox;
  readonly bin = flowoBin();
  port = 0;
  /** The one-time login link printed at the first start (null once users exist). */
  firstLoginLink: string | null = null;
  private proc: ChildProcess | null = null;
  private readonly log: string;

  private constructor(sandbox: Sandbox) {
    this.sandbox = sandbox;
    this.log = join(sandbox.root, "serve.log");
  }

  /** Starts a server in a new sandbox under `parent`. */
  static async start(parent: string): Promise<FlowoServer> {
    const server = new FlowoServer(new Sandbox(parent));
    await server.restart();
    await server.checkDashboard();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the process (again), on the port of the first start; resolves once it is ready. */
  async restart(): Promise<void> {
    if (this.running) throw new Error("flowo serve is already running");
    const args = ["serve", "--bind", `127.0.0.1:${this.port}`, "--lost-after", "3600"];
    const err = createWriteStream(this.log, { flags: "a" });
    const proc = spawn(this.bin, args, { env: this.sandbox.env, stdio: ["ignore", "pipe", "pipe"] });
    proc.stderr.pipe(err);
    this.proc = proc;
    const lines = createInterface({ input: proc.stdout });
    const ready = new Promise<RegExpExecArray>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`flowo serve printed no ready line; see ${this.log}`)), WAIT_MS);
      lines.on("line", (line) => {
        const m = READY.exec(line);
        if (m) {
          clearTimeout(timer);
          resolveReady(m);
        }
      });
      proc.on("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`flowo serve exited (${code ?? signal}) before it was ready:\n${readFileSync(this.log, "utf8")}`));
      });
    });
    const m = await ready;
    this.port = Number(m[2]);
    if (m[3] && this.firstLoginLink === null) this.firstLoginLink = `${m[1]}/login?first-login=${m[3]}`;
    await waitFor("/readyz", async () => (await fetch(`${this.url}/readyz`).catch(() => null))?.ok);
  }

  /** Fails clearly when this binary does not serve the dashboard (built before frontend/dist). */
  private async checkDashboard(): Promise<void> {
    const res = await fetch(`${this.url}/runs`);
    const body = await res.text();
    if (!res.ok || !body.includes('<div id="root">')) {
      throw new Error(
        `${this.bin} does not serve the dashboard (GET /runs: ${res.status}); build frontend/dist first ` +
          "(scripts/frontend.sh --build-only), then cargo build --release -p flowo-cli",
      );
    }
  }

  /** Stops the process: SIGTERM (a clean stop) or SIGKILL (a crash). */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill(signal);
    await exited;
  }

  /** Runs `flowo ARGS` on the server's store (administration acts on the database); its stdout. */
  cli(args: string[], stdin?: string): string {
    const out = spawnSync(this.bin, args, { env: this.sandbox.env, input: stdin, encoding: "utf8", timeout: WAIT_MS });
    if (out.status !== 0) {
      throw new Error(`flowo ${args.join(" ")}: ${out.status ?? out.signal}\n${out.stdout}\n${out.stderr}`);
    }
    return out.stdout;
  }

  /** Creates a user with a password (through the CLI, as an operator would). */
  createUser(email: string, password: string, role: "admin" | "member" | "viewer"): void {
    this.cli(["user", "create", email, "--role", role, "--password-stdin"], `${password}\n`);
  }

  /** A new API token for `email` (through the CLI); the token text. */
  createToken(email: string, name: string, scope: "ingest" | "read" | "admin"): string {
    const out = this.cli(["token", "create", "--user", email, "--name", name, "--scope", scope]);
    return out.trim().split("\n").pop()!.trim();
  }
}

/** A client for FlowO's HTTP API with a bearer token. */
export class Api {
  readonly base: string;
  readonly token: string;

  constructor(base: string, token: string) {
    this.base = base;
    this.token = token;
  }

  /** The raw response (for status checks). */
  async request(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.base}/api/v1${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async json<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : null) as T;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.json<T>("GET", path);
  }

  post<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.json<T>("POST", path, body);
  }
}

export interface Finished {
  code: number | null;
  output: string;
}

const RECORDING = /^flowo: recording run ([0-9a-f-]{36}) to /m;

/** One Snakemake process with `--logger flowo`, stdout and stderr in one log file. */
export class Snakemake {
  readonly workdir: string;
  readonly log: string;
  private readonly proc: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(workdir: string, args: string[], env: NodeJS.ProcessEnv) {
    const venv = snakemakeVenv();
    this.workdir = workdir;
    this.log = join(workdir, "snakemake.log");
    writeFileSync(this.log, "");
    const out = createWriteStream(this.log, { flags: "a" });
    this.proc = spawn(join(venv, "bin/snakemake"), ["--logger", "flowo", ...args], {
      cwd: workdir,
      env: { ...env, PATH: `${join(venv, "bin")}:${env.PATH ?? "/usr/bin:/bin"}` },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so that its job shells end with it.
      detached: true,
    });
    this.proc.stdout!.pipe(out, { end: false });
    this.proc.stderr!.pipe(out, { end: false });
    this.exited = new Promise((r) => this.proc.on("close", (code) => r(code)));
  }

  output(): string {
    return readFileSync(this.log, "utf8");
  }

  /** The run id the plugin announced (waits for its line). */
  runId(): Promise<string> {
    return waitFor("the plugin's `flowo: recording run` line", () => {
      const m = RECORDING.exec(this.output());
      if (m) return m[1];
      if (this.proc.exitCode !== null) throw new Error(`snakemake ended without announcing a run:\n${this.output()}`);
      return null;
    });
  }

  async wait(): Promise<Finished> {
    const timer = setTimeout(() => this.kill(), 10 * WAIT_MS);
    const code = await this.exited;
    clearTimeout(timer);
    return { code, output: this.output() };
  }

  /** Ends Snakemake and its job shells (its process group). */
  kill(): void {
    try {
      if (this.proc.pid) process.kill(-this.proc.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** The demo workflow's gates (`--config gate=DIR`): each rule's jobs wait for DIR/<rule>. */
export class Gates {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  open(...rules: string[]): void {
    for (const rule of rules) writeFileSync(join(this.dir, rule), "");
  }

  openAll(): void {
    this.open("fetch", "qc", "align", "report");
  }
}

/**
 * Starts a real Snakemake run of a fresh copy of the demo workflow, recording into `server` with
 * an ingest token; `gated` holds every rule until the test opens its gate.
 */
export function runDemo(
  server: FlowoServer,
  ingestToken: string,
  name: string,
  opts: { args?: string[]; gated?: boolean } = {},
): { snakemake: Snakemake; gates: Gates | null; workdir: string } {
  const workdir = server.sandbox.demoWorkdir(name);
  const gates = opts.gated ? new Gates(join(workdir, ".gates")) : null;
  const config = gates ? ["--config", `gate=${gates.dir}`] : [];
  // Gated jobs hold their cores while they wait; with a core for each job of a rule (align takes
  // two threads), the jobs a test releases never queue behind jobs still held at a later gate.
  const cores = gates ? "12" : "2";
  const args = ["--cores", cores, "--logger-flowo-name", name, ...(opts.args ?? [])];
  // --config takes every following word, so it goes last (after the caller's own --config).
  if (config.length) {
    const i = args.indexOf("--config");
    if (i >= 0) args.splice(i + 1, 0, config[1]);
    else args.push(...config);
  }
  const env = { ...server.sandbox.env, FLOWO_URL: server.url, FLOWO_TOKEN: ingestToken };
  return { snakemake: new Snakemake(workdir, args, env), gates, workdir };
}
