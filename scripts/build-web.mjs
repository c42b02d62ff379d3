/* global console, Buffer */
// Builds the browser pages: every src/web/<page>/ with a page.html and a main.ts becomes one
// self-contained dist/src/web/<page>.html (the bundle inlined: no CDN, works offline, and a
// replay file can be mailed). Node built-ins the shared modules import are replaced by the
// shims in src/web/shims. Run after tsc (npm run build).
import { build } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = path.join(root, 'src/web');
const out = path.join(root, 'dist/src/web');
const shim = (f) => path.join(web, 'shims', f);

const alias = {
  'node:crypto': shim('node-crypto.ts'),
  'node:path': 'path-browserify',
  'node:fs': shim('node-unavailable.ts'),
  'node:fs/promises': shim('node-unavailable.ts'),
  'node:os': shim('node-unavailable.ts'),
  'node:util': shim('node-util.ts'),
  'node:worker_threads': shim('node-unavailable.ts'),
  '@node-rs/crc32': shim('crc32.ts'),
};

const pages = readdirSync(web, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(web, d.name, 'page.html')) && existsSync(path.join(web, d.name, 'main.ts')))
  .map((d) => d.name)
  .sort();

mkdirSync(out, { recursive: true });
const started = Date.now();
const sizes = [];
for (const page of pages) {
  const result = await build({
    entryPoints: [path.join(web, page, 'main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    alias,
    inject: [shim('globals.ts')],
    define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
    logLevel: 'warning',
  });
  // `</script` inside the bundle would end the inline script early.
  const js = result.outputFiles[0].text.replace(/<\/script/gi, '<\\/script');
  const html = readFileSync(path.join(web, page, 'page.html'), 'utf8');
  const marker = '<!-- tsraft:bundle -->';
  if (!html.includes(marker)) throw new Error(`src/web/${page}/page.html has no ${marker} line`);
  const file = path.join(out, `${page}.html`);
  writeFileSync(file, html.replace(marker, () => `<script type="module">${js}</script>`));
  sizes.push(`${page} ${(Buffer.byteLength(js) / 1024).toFixed(0)} KiB`);
}
if (pages.length > 0) console.log(`web: ${pages.length} page(s) in dist/src/web (script: ${sizes.join(', ')}) in ${Date.now() - started} ms`);
