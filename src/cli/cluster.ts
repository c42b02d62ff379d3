import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateError } from '../security/certs.js';
import { ensureClusterCerts } from '../security/cluster-certs.js';

export interface ClusterFlags {
  nodes: string;
  data: string;
  basePort: string;
  clusterId: string;
  host: string;
}

/** Ports of node i (1-based) of a local cluster: Raft at base+i, the API at base+100+i. */
export function localPorts(base: number, i: number): { raft: number; api: number } {
  return { raft: base + i, api: base + 100 + i };
}

/** The API URLs of a local cluster started with these settings. */
export function localEndpoints(nodes = 3, base = 7000, host = '127.0.0.1'): string[] {
  return Array.from({ length: nodes }, (_, k) => `http://${host}:${localPorts(base, k + 1).api}`);
}

async function waitHealthy(url: string, child: ChildProcess, deadline: number): Promise<boolean> {
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) });
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
  // A development CA and a certificate per node, made on first start and reused after: peers authenticate each other.
  let certs: Awaited<ReturnType<typeof ensureClusterCerts>>;
  try {
    certs = await ensureClusterCerts(f.data, names, f.host === '127.0.0.1' || f.host === 'localhost' ? [] : [f.host]);
  } catch (e) {
    if (!(e instanceof CertificateError)) throw e;
    out(`tsraft cluster: ${e.message}`);
    return 1;
  }
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
      [cli, 'serve', '--id', name, '--data', dir, '--listen', `${f.host}:${raft}`, '--api', `${f.host}:${api}`, '--peers', peers, '--cluster-id', f.clusterId, '--tls-dir', certs.tlsDir(name)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    // Startup errors are one line on stderr: show them here too.
    child.stderr!.on('data', (b: Buffer) => {
      for (const line of b.toString('utf8').split('\n')) if (line.startsWith('tsraft serve:')) out(`${name}: ${line}`);
    });
    child.on('exit', (code, signal) => {
      if (!stopping) out(`tsraft cluster: ${name} exited (${signal ?? `code ${code}`}); see ${path.join(f.data, `${name}.log`)}`);
    });
    children.push(child);
  });

  const urls = localEndpoints(n, base, f.host);
  const deadline = Date.now() + 15_000;
  const up = await Promise.all(urls.map((u, k) => waitHealthy(u, children[k]!, deadline)));
  urls.forEach((u, k) => out(`  ${names[k]}  ${up[k] ? 'up  ' : 'DOWN'}  ${u}`));
  if (up.every((x) => !x)) {
    out('tsraft cluster: no node came up');
    await stopAll();
    return 1;
  }
  out(`tsraft cluster: try  npx tsraft kv put greeting hello  and  npx tsraft kv get greeting ;  npx tsraft status ;  Ctrl-C stops the cluster`);

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
  });
}
