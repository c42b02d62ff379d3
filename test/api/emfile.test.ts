/**
 * The API under a small open-file limit, in a child process started with
 * `ulimit -n`: the connection cap is lowered below the limit at start (with
 * a warning), and when the process is out of descriptors anyway (EMFILE on
 * accept) clients are closed promptly instead of hanging, the node does not
 * crash, and service resumes once descriptors are free again.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { rawExchange, request } from './raw-http.js';

const CHILD = fileURLToPath(new URL('./fixtures/fd-limited-node.js', import.meta.url));

interface Child {
  readonly proc: ChildProcess;
  readonly port: number;
  stderr: string;
  /** Sends a command and waits for the stdout line that starts with `answer`. */
  ask(command: string, answer: string): Promise<string>;
}

async function startChild(fileLimit: number): Promise<Child> {
  const proc = spawn('bash', ['-c', `ulimit -n ${fileLimit} && exec "${process.execPath}" "${CHILD}"`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const child = { proc, port: 0, stderr: '' } as Child & { port: number };
  proc.stderr!.on('data', (c: Buffer) => (child.stderr += c.toString()));
  const waitLine = (prefix: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const line = out.split('\n').find((l) => l.startsWith(prefix));
        if (line === undefined) return;
        out = out.slice(out.indexOf(line) + line.length + 1);
        proc.stdout!.off('data', onData);
        proc.off('exit', onExit);
        resolve(line);
      };
      const onData = (c: Buffer): void => {
        out += c.toString();
        check();
      };
      const onExit = (code: number | null): void => reject(new Error(`the child exited (${code}) before ${prefix}: ${child.stderr}`));
      proc.stdout!.on('data', onData);
      proc.once('exit', onExit);
      check();
    });
  child.ask = (command, answer) => {
    const p = waitLine(answer);
    proc.stdin!.write(`${command}\n`);
    return p;
  };
  child.port = Number((await waitLine('READY ')).split(' ')[1]);
  return child;
}

async function stopChild(c: Child): Promise<number | null> {
  const exited = new Promise<number | null>((r) => c.proc.once('exit', (code) => r(code)));
  c.proc.stdin!.write('stop\n');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(t);
  return code;
}

async function openIdle(port: number, n: number): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    out.push(s);
  }
  return out;
}

test('under a file limit of 200 the default cap of 1000 is lowered, with a warning, and clients above it get 503', async () => {
  const c = await startChild(200);
  try {
    assert.match(c.stderr, /client connection cap lowered to 100: the open-file limit is 200/);
    const held = await openIdle(c.port, 100);
    await new Promise((r) => setTimeout(r, 100));
    const over = await rawExchange(c.port, request('GET', '/healthz'), { timeoutMs: 3_000 });
    assert.equal(over.responses[0]?.status, 503, 'the 101st connection is refused with an answer');
    assert.equal(over.responses[0]?.json?.['error'], 'too-many-connections');
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const ok = await rawExchange(c.port, request('PUT', '/v1/kv/k', { body: '{"value":"v"}' }), { expect: 1 });
    assert.equal(ok.responses[0]?.status, 200);
  } finally {
    assert.equal(await stopChild(c), 0, c.stderr);
  }
});

test('out of file descriptors (EMFILE on accept): clients are closed promptly, the node survives, and service resumes', async () => {
  const c = await startChild(256);
  try {
    const hogged = Number((await c.ask('hog', 'HOGGED ')).split(' ')[1]);
    assert.ok(hogged > 50, `the child took the free descriptors (${hogged})`);
    const tries = await Promise.all(Array.from({ length: 20 }, () => rawExchange(c.port, request('GET', '/healthz'), { timeoutMs: 4_000 })));
    for (const x of tries) {
      // Never a silent hang: an answer, or a prompt close or reset.
      assert.ok(x.closed || x.responses.length > 0, `a client hung for ${x.ms} ms`);
      assert.ok(x.ms < 3_000, `a client waited ${x.ms} ms`);
    }
    await c.ask('release', 'RELEASED');
    const ok = await rawExchange(c.port, request('PUT', '/v1/kv/after-emfile', { body: '{"value":"v"}' }), { expect: 1 });
    assert.equal(ok.responses[0]?.status, 200, 'service resumed');
    const get = await rawExchange(c.port, request('GET', '/v1/kv/after-emfile'), { expect: 1 });
    assert.equal(get.responses[0]?.json?.['value'], 'v');
    assert.equal(c.proc.exitCode, null, 'still running');
  } finally {
    assert.equal(await stopChild(c), 0, c.stderr);
  }
});
