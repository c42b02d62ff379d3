/** `maxRaftState` in `tsraft serve --config`: the snapshot threshold, default (undefined: 16 MiB in the server), refused naming the file; and `--heap-growth-percent`. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_HEAP_GROWTH_PERCENT, heapGrowthPercent, serveConfig } from '../../src/cli/serve.js';
import { ConfigError } from '../../src/server/config.js';

const base = { id: 'n1', data: '/tmp/x', listen: '127.0.0.1:7001', api: '127.0.0.1:7101', peers: 'n1=127.0.0.1:7001' };

test('maxRaftState comes from the --config file only; absent, the server default applies', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-maxraftstate-'));
  try {
    const file = path.join(dir, 'node.json');
    assert.equal(serveConfig(base).maxRaftState, undefined);
    writeFileSync(file, JSON.stringify({ maxRaftState: 2 ** 40 }));
    assert.equal(serveConfig({ ...base, config: file }).maxRaftState, 2 ** 40);
    for (const bad of [0, -1, 1.5, 'lots', true]) {
      writeFileSync(file, JSON.stringify({ maxRaftState: bad }));
      assert.throws(() => serveConfig({ ...base, config: file }), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`--config ${file}: maxRaftState: expected a positive integer`), String(bad));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--heap-growth-percent: default 100, 0 allowed (V8 decides), from the flag or --config; anything else refused by name', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsraft-heapgrowth-'));
  try {
    assert.equal(heapGrowthPercent(base), DEFAULT_HEAP_GROWTH_PERCENT);
    assert.equal(DEFAULT_HEAP_GROWTH_PERCENT, 100);
    assert.equal(heapGrowthPercent({ ...base, heapGrowthPercent: '0' }), 0);
    assert.equal(heapGrowthPercent({ ...base, heapGrowthPercent: '75' }), 75);
    const file = path.join(dir, 'node.json');
    writeFileSync(file, JSON.stringify({ heapGrowthPercent: 35 }));
    assert.equal(heapGrowthPercent({ ...base, config: file }), 35);
    assert.equal(heapGrowthPercent({ ...base, config: file, heapGrowthPercent: '10' }), 10, 'the flag wins over the file');
    for (const bad of ['-1', '1.5', 'lots', '1001', '']) {
      assert.throws(() => heapGrowthPercent({ ...base, heapGrowthPercent: bad }), (e: unknown) => e instanceof ConfigError && e.message.startsWith('--heap-growth-percent: expected a whole number from 0 to 1000'), bad);
    }
    writeFileSync(file, JSON.stringify({ heapGrowthPercent: true }));
    assert.throws(() => heapGrowthPercent({ ...base, config: file }), ConfigError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
