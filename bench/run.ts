/** `npm run bench`: every benchmark, in turn. Each prints its figures and writes bench/results/<name>.json. */
import { spawnSync } from 'node:child_process';

const benches = ['core', 'storage', 'kv', 'snapshot', 'cluster', 'tls', 'membership'];
let failed = false;
for (const b of benches) {
  const r = spawnSync(process.execPath, ['--enable-source-maps', new URL(`./${b}.js`, import.meta.url).pathname], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
