/**
 * Turns what `--impl` names into a module the tester can import: a
 * JavaScript file as it is, a TypeScript file compiled by esbuild (without a
 * type check) next to itself in `.tsraft/`, a directory by its raft or index
 * file. Node only (the browser bundle never imports this).
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ImplementationError } from './implementation.js';

/** Files a directory given to --impl is looked up by, in order. */
const CANDIDATES = ['raft.ts', 'raft.js', 'raft.mjs', 'index.ts', 'index.js', 'index.mjs', 'src/raft.ts'];

/** The module to import for `given` (a path), as a file URL; compiles TypeScript first. */
export async function prepareImplementation(given: string): Promise<string> {
  let file = path.resolve(given);
  if (!existsSync(file)) throw new ImplementationError(`cannot load ${given}: no such file or directory`);
  if (statSync(file).isDirectory()) {
    const found = CANDIDATES.map((c) => path.join(file, c)).find((f) => existsSync(f));
    if (found === undefined) throw new ImplementationError(`${given} is a directory with none of ${CANDIDATES.join(', ')}: name the module file`);
    file = found;
  }
  if (!/\.[cm]?ts$/.test(file)) return pathToFileURL(file).href;
  // Written beside the source, so that its imports of tsraft resolve to this very installation.
  const outfile = path.join(path.dirname(file), '.tsraft', `${path.basename(file).replace(/\.[cm]?ts$/, '')}.mjs`);
  const { build } = await import('esbuild');
  try {
    await build({ entryPoints: [file], bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', sourcemap: 'inline', outfile, logLevel: 'silent' });
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }).errors ?? [];
    const detail = errors.map((x) => (x.location ? `${x.location.file}:${x.location.line}:${x.location.column}: ${x.text}` : x.text)).join('; ');
    throw new ImplementationError(`${given} does not compile: ${detail || (e instanceof Error ? e.message : String(e))}`);
  }
  return pathToFileURL(outfile).href;
}
