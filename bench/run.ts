/**
 * `npm run bench`: every benchmark, in turn. Each prints its figures and writes bench/results/<name>.json.
 * `npm run bench -- --compare etcd`: only the side-by-side comparison with etcd (bench/compare-etcd.ts);
 * with `--profile`, a CPU profile of the tsraft leader under 64-connection writes instead.
 */
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const at = args.indexOf('--compare');
const profile = args.includes('--profile');
let benches = ['core', 'storage', 'kv', 'snapshot', 'cluster', 'tls', 'membership', 'checker'];
const usage = 'usage: npm run bench [-- --compare etcd [--profile]]';
if (at >= 0) {
  const what = args[at + 1];
  if (what !== 'etcd') {
    console.error(`--compare: only "etcd" is known (got ${what === undefined ? 'nothing' : JSON.stringify(what)})`);
    process.exit(2);
  }
  const rest = args.filter((a, i) => i !== at && i !== at + 1 && a !== '--profile');
  if (rest.length > 0) {
    console.error(`unknown arguments: ${rest.join(' ')} (${usage})`);
    process.exit(2);
  }
  benches = ['compare-etcd'];
} else if (args.length > 0) {
  console.error(`unknown arguments: ${args.join(' ')} (${usage}; --profile goes with --compare etcd)`);
  process.exit(2);
}

// A signal sent to this process alone is passed on to the running bench, which stops what it started.
let current: ReturnType<typeof spawn> | undefined;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => current?.kill(sig));

let failed = false;
for (const b of benches) {
  current = spawn(process.execPath, ['--enable-source-maps', new URL(`./${b}.js`, import.meta.url).pathname, ...(profile ? ['--profile'] : [])], { stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve) => current?.on('close', (c) => resolve(c)));
  if (code !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
