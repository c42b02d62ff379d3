/**
 * Every command-line entry answers --help with its usage on stdout and exit
 * code 0: the tsraft command and each subcommand, npm run lab, npm run sim.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

function entry(rel: string): string {
  return fileURLToPath(new URL(rel, import.meta.url));
}

function help(script: string, ...argv: string[]): string {
  const r = spawnSync(process.execPath, [script, ...argv], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `${argv.join(' ')}: exit ${r.status}\n${r.stderr}`);
  assert.equal(r.stderr, '', 'nothing on stderr');
  return r.stdout;
}

test('tsraft --help and tsraft <sub> --help print usage and exit 0', () => {
  const cli = entry('../../src/cli/main.js');
  const top = help(cli, '--help');
  for (const sub of ['serve', 'cluster', 'certs', 'kv', 'status', 'member', 'leader', 'check']) assert.match(top, new RegExp(`^  ${sub}\\b`, 'm'));
  const options: Record<string, string[]> = {
    serve: ['--id', '--data', '--listen', '--api', '--peers', '--cluster-id', '--config', '--heartbeat-ms', '--election-ms', '--log-level', '--lease-reads', '--max-clock-drift-ppm', '--read-consistency', '--watch-history', '--max-leases', '--heap-growth-percent'],
    cluster: ['--nodes', '--data', '--base-port', '--cluster-id', '--host'],
    kv: ['--endpoints', '--stale', '--consistency', '--absent', '--from-revision', '--json', '--if', '--then', '--else', '--file'],
    status: ['--endpoints'],
    check: ['--timeout', '--html'],
    'member list': ['--endpoints', '--json'],
    'member add': ['--peer', '--api', '--learner', '--endpoints', '--json'],
    'member promote': ['--endpoints', '--json'],
    'member remove': ['--endpoints', '--json'],
    'leader transfer': ['--to', '--endpoints', '--json'],
  };
  for (const [sub, opts] of Object.entries(options)) {
    const text = help(cli, ...sub.split(' '), '--help');
    assert.match(text, new RegExp(`^Usage: tsraft ${sub}`, 'm'));
    for (const o of opts) assert.match(text, new RegExp(`^  ${o}\\b`, 'm'), `tsraft ${sub} --help names ${o}`);
  }
});

test('npm run lab -- --help and npm run sim -- --help print usage on stdout and exit 0', () => {
  assert.match(help(entry('../../src/lab/main.js'), '--help'), /^usage: npm run lab/m);
  assert.match(help(entry('../../src/sim/main.js'), '--help'), /^usage: npm run sim/m);
});
