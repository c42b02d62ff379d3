import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitMeaning } from '../server/exit-codes.js';
import { ROOT_TOKEN_FILE } from '../auth/service.js';
import { ensureClusterCerts } from '../security/cluster-certs.js';
import { caFetchOptions } from '../security/https-client.js';
import { CertificateError } from '../security/certs.js';

export interface ClusterFlags {
  nodes: string;
  data: string;
  basePort: string;
  clusterId: string;
  host: string;
  /** Serve every node's API over HTTPS (certificates of the cluster's development CA). */
  tls?: boolean;
  /** Enable auth once the cluster is up; the root token goes to `<data>/root.token`. */
  auth?: boolean;
}

/** Ports of node i (1-based) of a local cluster: Raft at base+i, the API at base+100+i. */
export function localPorts(base: number, i: number): { raft: number; api: number } {
  return { raft: base + i, api: base + 100 + i };
}

/** The API URLs of a local cluster started with these settings. */
export function localEndpoints(nodes = 3, base = 7000, host = '127.0.0.1', scheme: 'http' | 'https' = 'http'): string[] {
  return Array.from({ length: nodes }, (_, k) => `${scheme}://${host}:${localPorts(base, k + 1).api}`);
}

/** How `tsraft cluster` reports a node whose process ended while the cluster runs. */
export function describeExit(name: string, code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) return `${name} died of signal ${signal}`;
  if (code === 0) return `${name} exited with code 0 (${exitMeaning(0)})`;
  return `${name} died with exit code ${code ?? '?'} (${code === null ? 'unknown exit code' : exitMeaning(code)})`;
}

async function waitHealthy(url: string, child: ChildProcess, deadline: number, fetchOptions: Record<string, unknown>): Promise<boolean> {
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500), ...fetchOptions } as RequestInit);
      if (r.ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * `tsraft cluster`: a local cluster of `tsraft serve` child processes on
 * loopback, data in `<data>/<name>`, logs in `<data>/<name>.log`. Restarted
 * with the same flags it finds its data again. Ctrl-C stops every node.
 */
export async function cluster(f: ClusterFlags, out: (l: string) => void = (l) => console.log(l)): Promise<number> {
  const n = Number(f.nodes);
  const base = Number(f.basePort);
  if (!Number.isInteger(n) || n < 1 || n > 9) {
    out(`tsraft cluster: --nodes must be between 1 and 9, got '${f.nodes}'`);
    return 2;
  }
  if (!Number.isInteger(base) || base < 1024 || base + 200 > 65535) {
    out(`tsraft cluster: --base-port must be between 1024 and 65335, got '${f.basePort}'`);
    return 2;
  }
  const cli = fileURLToPath(new URL('./main.js', import.meta.url));
  mkdirSync(f.data, { recursive: true });
  const names = Array.from({ length: n }, (_, k) => `n${k + 1}`);
  const peers = names.map((name, k) => `${name}=${f.host}:${localPorts(base, k + 1).raft}`).join(',');
  // A development CA and a certificate per node, made on first start and reused after: peers
  // authenticate each other, and with --tls the same certificates serve each API over HTTPS.
  let certs: Awaited<ReturnType<typeof ensureClusterCerts>>;
  try {
    certs = await ensureClusterCerts(f.data, names, f.host === '127.0.0.1' || f.host === 'localhost' ? [] : [f.host]);
  } catch (e) {
    if (!(e instanceof CertificateError)) throw e;
    out(`tsraft cluster: ${e.message}`);
    return 1;
  }
  const fetchOptions = caFetchOptions(f.tls === true ? readFileSync(certs.caFile, 'utf8') : undefined);
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = (): Promise<void> => {
    stopping = true;
    return Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    ).then(() => undefined);
  };

  out(`tsraft cluster: starting ${n} node(s) of cluster '${f.clusterId}', data in ${path.resolve(f.data)}`);
  out(`tsraft cluster: peers authenticate with certificates of the CA in ${path.resolve(certs.caDir)}`);
  names.forEach((name, k) => {
    const { raft, api } = localPorts(base, k + 1);
    const dir = path.join(f.data, name);
    const log = createWriteStream(path.join(f.data, `${name}.log`), { flags: 'a' });
    const child = spawn(
      process.execPath,
      [
        ...[cli, 'serve', '--id', name, '--data', dir, '--listen', `${f.host}:${raft}`, '--api', `${f.host}:${api}`, '--peers', peers, '--cluster-id', f.clusterId, '--tls-dir', certs.tlsDir(name)],
        ...(f.tls === true ? ['--api-cert', path.join(certs.tlsDir(name), 'node.pem'), '--api-key', path.join(certs.tlsDir(name), 'node.key')] : []),
      ],
      // Its own process group: a Ctrl-C in the terminal reaches this process alone, which stops
      // each node once (SIGTERM). Sent to the nodes as well, it would be their second signal,
      // which means "exit without waiting for the clean stop".
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    // Startup errors are one line on stderr: show them here too.
    child.stderr!.on('data', (b: Buffer) => {
      for (const line of b.toString('utf8').split('\n')) if (line.startsWith('tsraft serve:')) out(`${name}: ${line}`);
    });
    child.on('exit', (code, signal) => {
      if (!stopping) out(`tsraft cluster: ${describeExit(name, code, signal)}; see ${path.join(f.data, `${name}.log`)}`);
    });
    children.push(child);
  });

  const urls = localEndpoints(n, base, f.host, f.tls === true ? 'https' : 'http');
  const deadline = Date.now() + 15_000;
  const up = await Promise.all(urls.map((u, k) => waitHealthy(u, children[k]!, deadline, fetchOptions)));
  urls.forEach((u, k) => out(`  ${names[k]}  ${up[k] ? 'up  ' : 'DOWN'}  ${u}`));
  // Every node serves the dashboard; the first one that is up is as good as any.
  const dash = urls.find((_, k) => up[k]);
  if (dash !== undefined) {
    out(`  dashboard: ${dash}/`);
    out(`  playground (a simulated cluster in the browser): ${dash}/playground`);
  }
  if (up.every((x) => !x)) {
    out('tsraft cluster: no node came up');
    await stopAll();
    return 1;
  }
  const flags: string[] = [];
  if (f.tls === true) {
    out(`tsraft cluster: the APIs speak HTTPS only; the CA certificate for clients: ${path.resolve(certs.caFile)}`);
    flags.push(`--cacert ${path.resolve(certs.caFile)}`);
  }
  if (f.auth === true) {
    const file = await enableAuth(f.data, urls.filter((_, k) => up[k]), fetchOptions, deadline + 15_000, out);
    if (file === null) {
      await stopAll();
      return 1;
    }
    flags.push(`--token-file ${file}`);
  }
  const extra = flags.length > 0 ? ` --endpoints ${urls.join(',')} ${flags.join(' ')}` : '';
  out(`tsraft cluster: try  npx tsraft kv put greeting hello${extra}  and  npx tsraft kv get greeting${extra} ;  npx tsraft status${extra} ;  Ctrl-C stops the cluster`);

  return new Promise<number>((resolve) => {
    const onSignal = (): void => {
      if (stopping) return;
      out('\ntsraft cluster: stopping every node ...');
      void stopAll().then(() => {
        out('tsraft cluster: stopped');
        resolve(0);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // Out of their terminal's process group, the nodes would outlive this process if it ended otherwise.
    process.on('exit', () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    });
  });
}

/**
 * `tsraft cluster --auth`: enables auth through the first node that can, and
 * writes the root token to `<data>/root.token` (0600). A restart finds the file
 * and keeps using it (auth stays enabled in the replicated state). Returns the
 * file, or null (after saying why) if auth could not be enabled.
 */
async function enableAuth(data: string, urls: readonly string[], fetchOptions: Record<string, unknown>, deadline: number, out: (l: string) => void): Promise<string | null> {
  const file = path.resolve(data, ROOT_TOKEN_FILE);
  if (existsSync(file)) {
    out(`tsraft cluster: auth: using the existing root token in ${file}`);
    return file;
  }
  let last = 'no node answered';
  while (Date.now() < deadline) {
    for (const u of urls) {
      try {
        const r = await fetch(`${u}/v1/auth/enable`, { method: 'POST', signal: AbortSignal.timeout(10_000), ...fetchOptions } as RequestInit);
        const body = (await r.json().catch(() => ({}))) as { token?: unknown; message?: unknown };
        if (r.ok && typeof body.token === 'string') {
          writeFileSync(file, `${body.token}\n`, { mode: 0o600 });
          chmodSync(file, 0o600);
          out(`tsraft cluster: auth enabled; the root token is in ${file} (mode 0600)`);
          return file;
        }
        if (r.status === 401 || r.status === 403) {
          out(`tsraft cluster: auth is already enabled in this cluster but ${file} is missing: use a root token you kept (e.g. ${path.join(data, 'n1', ROOT_TOKEN_FILE)}) with --token-file`);
          return null;
        }
        last = `${u}: HTTP ${r.status} ${typeof body.message === 'string' ? body.message : ''}`;
      } catch (e) {
        last = `${u}: ${(e as Error).message}`;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  out(`tsraft cluster: could not enable auth (${last})`);
  return null;
}
