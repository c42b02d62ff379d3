/** `tsraft serve --quota-bytes`: default 2 GiB, from the flag or the --config file, refused with a ConfigError naming it. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { serveConfig } from '../../src/cli/serve.js';
import { ConfigError, DEFAULT_QUOTA_BYTES } from '../../src/server/config.js';

const base = { id: 'n1', data: '/tmp/x', listen: '127.0.0.1:7001', api: '127.0.0.1:7101', peers: 'n1=127.0.0.1:7001' };

test('--quota-bytes defaults to 2 GiB and takes a whole number of bytes', () => {
  assert.equal(DEFAULT_QUOTA_BYTES, 2147483648);
  assert.equal(serveConfig(base).quotaBytes, 2147483648);
  assert.equal(serveConfig({ ...base, quotaBytes: '1048576' }).quotaBytes, 1048576);
  for (const bad of ['0', '-5', '1.5', 'lots', '', '1e9', '99999999999999999999']) {
    assert.throws(() => serveConfig({ ...base, quotaBytes: bad }), (e: unknown) => e instanceof ConfigError && /^--quota-bytes: expected a whole number of bytes >= 1/.test(e.message), `'${bad}'`);
  }
});

test('quotaBytes in the --config file, overridden by the flag, and refused naming the file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-quota-'));
  try {
    const file = path.join(dir, 'node.json');
    writeFileSync(file, JSON.stringify({ name: 'n1', dataDir: '/tmp/x', listen: '127.0.0.1:7001', api: '127.0.0.1:7101', peers: 'n1=127.0.0.1:7001', quotaBytes: 5000 }));
    assert.equal(serveConfig({ config: file }).quotaBytes, 5000);
    assert.equal(serveConfig({ config: file, quotaBytes: '7000' }).quotaBytes, 7000);
    writeFileSync(file, JSON.stringify({ name: 'n1', dataDir: '/tmp/x', listen: '127.0.0.1:7001', api: '127.0.0.1:7101', peers: 'n1=127.0.0.1:7001', quotaBytes: 'big' }));
    assert.throws(() => serveConfig({ config: file }), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`--config ${file}: quotaBytes: expected a whole number`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
