/**
 * Real `tsraft serve` processes on 127.0.0.1 for end-to-end tests: free
 * ports, temporary data directories, SIGKILL / SIGSTOP / SIGCONT, restarts,
 * and a workload of concurrent HTTP clients that records its history.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HistoryOp } from '../../src/check/index.js';
import { KvClient, KvClientError, UnavailableError } from '../../src/client/index.js';
import { ensureClusterCerts } from '../../src/security/cluster-certs.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export { freePort } from '../util/ports.js';
import { freePort } from '../util/ports.js';

export interface NodeProc {
  readonly name: string;
  readonly dataDir: string;
  readonly raftPort: number;
  readonly apiPort: number;
  readonly url: string;
  /** Set for a node that joined a running cluster (`tsraft serve --join URL`) instead of bootstrapping it. */
  readonly join?: string;
  readonly learner?: boolean;
  /** Its `--tls-dir`; none with `insecurePeers`. */
  readonly tlsDir?: string;
  proc: ChildProcess | null;
  stderr: string;
}

export class ProcessCluster {
  readonly nodes: NodeProc[] = [];
  readonly root: string;
  /** The bootstrap configuration (`--peers`), fixed when the cluster is created. */
  private bootstrapPeers = '';

  private constructor(
    root: string,
    /** Peers over plain TCP (`--insecure-peers`) instead of mutual TLS with this cluster's own CA. */
    readonly insecurePeers: boolean,
  ) {
    this.root = root;
  }

  /** Flags added to every node's `tsraft serve` (e.g. `--quota-bytes`). */
  extraArgs: string[] = [];

  /** This cluster's CA directory (as `tsraft cluster` keeps it: `<root>/ca`). */
  get caDir(): string {
    return path.join(this.root, 'ca');
  }

  /**
   * Starts n nodes (fast timing: heartbeats every 50 ms, elections after 500–1000 ms).
   * Peers authenticate with certificates of a CA made for this cluster, unless `insecurePeers`.
   * `prepare` runs before the first spawn (e.g. to mount a small file system on a node's data directory).
   */
  static async start(
    n = 3,
    opts: { readonly insecurePeers?: boolean; readonly extraArgs?: readonly string[]; readonly prepare?: (c: ProcessCluster) => void } = {},
  ): Promise<ProcessCluster> {
    const c = new ProcessCluster(mkdtempSync(path.join(tmpdir(), 'tsraft-proc-')), opts.insecurePeers === true);
    c.extraArgs = [...(opts.extraArgs ?? [])];
    const names = Array.from({ length: n }, (_, k) => `n${k + 1}`);
    const certs = c.insecurePeers ? null : await ensureClusterCerts(c.root, names);
    for (const name of names) {
      const raftPort = await freePort();
      const apiPort = await freePort();
      c.nodes.push({ name, dataDir: path.join(c.root, name), raftPort, apiPort, url: `http://127.0.0.1:${apiPort}`, ...(certs !== null && { tlsDir: certs.tlsDir(name) }), proc: null, stderr: '' });
    }
    c.bootstrapPeers = c.nodes.map((x) => `${x.name}=127.0.0.1:${x.raftPort}`).join(',');
    opts.prepare?.(c);
    for (let i = 0; i < n; i++) c.spawn(i);
    try {
      await c.waitHealthy();
      await c.waitLeader();
    } catch (e) {
      // Nodes left running would keep the test process alive after the failure.
      await c.stopAll();
      throw e;
    }
    return c;
  }

  get endpoints(): string[] {
    return this.nodes.map((x) => x.url);
  }

  /** API URLs of the nodes whose process is running. */
  get liveEndpoints(): string[] {
    return this.nodes.filter((x) => x.proc !== null).map((x) => x.url);
  }

  indexOf(name: string): number {
    const i = this.nodes.findIndex((x) => x.name === name);
    if (i < 0) throw new Error(`no node named ${name}`);
    return i;
  }

  /**
   * A new node on fresh ports and an empty data directory that joins the
   * running cluster through `join` (any member's API URL): `tsraft serve
   * --join URL [--learner] --tls-dir DIR`, DIR made as an operator would:
   * `tsraft certs node NAME --ca <root>/ca --out DIR`. Returns its index; it is not waited for.
   */
  async addNode(opts: { readonly join: string; readonly learner?: boolean; readonly name?: string }): Promise<number> {
    const name = opts.name ?? `n${this.nodes.length + 1}`;
    const raftPort = await freePort();
    const apiPort = await freePort();
    const tlsDir = path.join(this.root, `${name}-${this.nodes.length + 1}-tls`);
    if (!this.insecurePeers) await runCli(['certs', 'node', name, '--ca', this.caDir, '--out', tlsDir]);
    this.nodes.push({
      name,
      dataDir: path.join(this.root, `${name}-${this.nodes.length + 1}`),
      raftPort,
      apiPort,
      url: `http://127.0.0.1:${apiPort}`,
      join: opts.join,
      learner: opts.learner ?? false,
      ...(!this.insecurePeers && { tlsDir }),
      proc: null,
      stderr: '',
    });
    this.spawn(this.nodes.length - 1);
    return this.nodes.length - 1;
  }

  /** Starts node i's process (again) on its data directory. */
  spawn(i: number): ChildProcess {
    const node = this.nodes[i]!;
    node.stderr = '';
    // A bootstrap member names the bootstrap configuration; a joined one names a member to ask (ignored once its data directory exists).
    const membership = node.join === undefined ? ['--peers', this.bootstrapPeers] : ['--join', node.join, ...(node.learner === true ? ['--learner'] : [])];
    const peerAuth = node.tlsDir !== undefined ? ['--tls-dir', node.tlsDir] : ['--insecure-peers'];
    const p = spawn(
      process.execPath,
      [CLI, 'serve', '--id', node.name, '--data', node.dataDir, '--listen', `127.0.0.1:${node.raftPort}`, '--api', `127.0.0.1:${node.apiPort}`, ...membership, ...peerAuth, '--cluster-id', 'proc-test', '--heartbeat-ms', '50', '--election-ms', '500', '--log-level', 'warn', ...this.extraArgs],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    p.stderr!.on('data', (b: Buffer) => {
      node.stderr += b.toString('utf8');
      if (node.stderr.length > 200_000) node.stderr = node.stderr.slice(-100_000);
    });
    node.proc = p;
    return p;
  }

  /** Waits for node i's process to exit; returns its exit code (null if killed by a signal). */
  exited(i: number): Promise<number | null> {
    const p = this.nodes[i]!.proc;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p?.exitCode ?? null);
    return new Promise((resolve) => p.once('exit', (code) => resolve(code)));
  }

  signal(i: number, sig: NodeJS.Signals): void {
    this.nodes[i]!.proc?.kill(sig);
  }

  async kill(i: number): Promise<void> {
    this.signal(i, 'SIGKILL');
    await this.exited(i);
    this.nodes[i]!.proc = null;
  }

  async status(i: number): Promise<Record<string, unknown> | null> {
    try {
      const r = await fetch(`${this.nodes[i]!.url}/v1/status`, { signal: AbortSignal.timeout(1000) });
      return r.ok ? ((await r.json()) as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  async waitHealthy(which: number[] = this.nodes.map((_, i) => i), timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const i of which) {
      while ((await this.status(i)) === null) {
        if (Date.now() > deadline) throw new Error(`node ${this.nodes[i]!.name} did not come up:\n${this.nodes[i]!.stderr.slice(-2000)}`);
        await sleep(50);
      }
    }
  }

  /** The index of the node that is leader according to a majority of answers, waiting for one. */
  async waitLeader(among: number[] = this.nodes.map((_, i) => i), timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const i of among) {
        const s = await this.status(i);
        if (s?.['role'] === 'leader') return i;
      }
      await sleep(25);
    }
    throw new Error('no leader');
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n, i) => {
        if (n.proc === null) return;
        this.signal(i, 'SIGCONT');
        this.signal(i, 'SIGKILL');
        await this.exited(i);
        n.proc = null;
      }),
    );
  }

  async destroy(): Promise<void> {
    await this.stopAll();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Runs the `tsraft` CLI to completion; rejects with its stderr if it fails. */
export function runCli(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => (err !== null ? reject(new Error(`tsraft ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

/** Runs the `tsraft` CLI to its end, whatever the outcome: its exit code, stdout and stderr. */
export function cliResult(args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
    p.stderr!.on('data', (b: Buffer) => (err += b.toString('utf8')));
    p.once('exit', (code) => resolve({ code, out, err }));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Concurrent clients writing and reading through the HTTP API while the test
 * breaks things. Puts go to keys of their own (to check no acknowledged write
 * is lost); appends and gets share a few keys (to make the linearizability
 * check bite). Every operation is recorded with its outcome.
 */
export class Workload {
  readonly history: HistoryOp[] = [];
  /** Puts the cluster acknowledged: key → value. */
  readonly acked = new Map<string, string>();
  private stopFlag = false;
  private running: Promise<void>[] = [];
  private readonly t0 = performance.now();

  constructor(
    private readonly endpoints: () => string[],
    private readonly clients = 4,
    private readonly sharedKeys = 4,
  ) {}

  private now(): number {
    return performance.now() - this.t0;
  }

  start(): void {
    for (let c = 0; c < this.clients; c++) this.running.push(this.client(c));
  }

  async stop(): Promise<void> {
    this.stopFlag = true;
    await Promise.all(this.running);
  }

  private async client(c: number): Promise<void> {
    // Each client starts with a different endpoint first, so every node serves requests.
    const eps = this.endpoints();
    const rotated = [...eps.slice(c % eps.length), ...eps.slice(0, c % eps.length)];
    const kv = new KvClient({ endpoints: rotated, timeoutMs: 4000, requestTimeoutMs: 1500, clientId: `w${c}` });
    for (let n = 0; !this.stopFlag; n++) {
      const r = (c * 7 + n * 13) % 10;
      if (r < 4) {
        const key = `own-${c}-${n}`;
        const value = `v${c}.${n}`;
        const ok = await this.record(c, { op: 'put', key, value }, () => kv.put(key, value));
        if (ok) this.acked.set(key, value);
      } else if (r < 7) {
        const key = `shared-${n % this.sharedKeys}`;
        const value = `[${c}.${n}]`;
        await this.record(c, { op: 'append', key, value }, () => kv.append(key, value));
      } else {
        const key = `shared-${n % this.sharedKeys}`;
        let out: string | null = null;
        await this.record(
          c,
          { op: 'get', key },
          async () => {
            out = (await kv.get(key))?.value ?? null;
          },
          () => out,
        );
      }
    }
  }

  /** Runs one operation and records it: ok, certainly not applied (fail), or unknown. */
  private async record(c: number, op: Pick<HistoryOp, 'op' | 'key' | 'value'>, run: () => Promise<unknown>, output?: () => string | null): Promise<boolean> {
    const call = this.now();
    try {
      await run();
      this.history.push({ clientId: c, ...op, ...(output !== undefined && { output: output() }), call, return: this.now(), status: 'ok' });
      return true;
    } catch (e) {
      // A 4xx is a refusal before anything was applied; anything else may have applied.
      const certain = e instanceof KvClientError && !(e instanceof UnavailableError) && e.status >= 400 && e.status < 500;
      this.history.push({ clientId: c, ...op, call, return: null, status: certain ? 'fail' : 'unknown' });
      return false;
    }
  }
}
