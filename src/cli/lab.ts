/**
 * `tsraft lab init DIR` writes a learner's project (their Raft in TypeScript,
 * tested by ours); `tsraft lab test` (the project's `npm test`) type-checks it
 * and runs the lab suite against src/raft.ts with `--impl` (which compiles it).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { labMain } from '../lab/cli.js';
import { kvTests } from '../lab/suite/kv.js';
import { raftExtensionTests, raftTests } from '../lab/suite/raft.js';

/** The root of the tsraft installation this code runs from (holding package.json and templates/). */
export function installRoot(): string {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { name?: string };
  if (pkg.name !== 'tsraft') throw new Error(`tsraft lab: ${root} is not the tsraft installation (its package.json names ${pkg.name})`);
  return root;
}

/** A valid npm package name made from a directory name. */
function packageName(dir: string): string {
  const base = path
    .basename(path.resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '');
  return base === '' ? 'my-raft' : base;
}

/**
 * Writes the learner's project into `dir` (which must be absent or empty):
 * package.json depending on this installation by a `file:` path (so
 * `npm install` works offline), tsconfig.json, src/raft.ts (the lab's
 * skeleton), README.md and .gitignore. Returns the exit code.
 */
export function labInit(dir: string, out: (l: string) => void = (l) => console.log(l), err: (l: string) => void = (l) => console.error(l)): number {
  const target = path.resolve(dir);
  if (existsSync(target) && readdirSync(target).length > 0) {
    err(`tsraft lab init: ${dir} is not empty: give a new or empty directory`);
    return 2;
  }
  const root = installRoot();
  const template = path.join(root, 'templates', 'lab-project');
  mkdirSync(path.join(target, 'src'), { recursive: true });
  const pkg = {
    name: packageName(target),
    version: '0.1.0',
    private: true,
    type: 'module',
    description: 'My Raft for the 6.824 lab, tested by tsraft in seeded virtual time',
    scripts: { test: 'tsraft lab test' },
    dependencies: { tsraft: `file:${root}` },
  };
  writeFileSync(path.join(target, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  for (const [from, to] of [
    ['tsconfig.json', 'tsconfig.json'],
    ['src/raft.ts', 'src/raft.ts'],
    ['README.md', 'README.md'],
    ['gitignore', '.gitignore'], // npm never packs a file named .gitignore
  ] as const) {
    writeFileSync(path.join(target, to), readFileSync(path.join(template, from)));
  }
  out(`wrote a Raft lab project in ${dir} (tsraft from ${root})`);
  out('next:');
  out(`  cd ${dir}`);
  out('  npm install');
  out('  npm test -- --grep 2A');
  return 0;
}

/** Type-checks the project with TypeScript if tsraft's installation has it; null when it does not. */
async function typeCheck(project: string): Promise<string[] | null> {
  let ts: typeof import('typescript');
  try {
    ts = (await import('typescript')).default;
  } catch {
    return null;
  }
  const configFile = path.join(project, 'tsconfig.json');
  const read = ts.readConfigFile(configFile, (f) => ts.sys.readFile(f));
  if (read.error !== undefined) return [ts.flattenDiagnosticMessageText(read.error.messageText, '\n')];
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, project);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: { ...parsed.options, noEmit: true } });
  const diags = ts.getPreEmitDiagnostics(program);
  const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => project, getNewLine: () => '\n' };
  return diags.length === 0 ? [] : ts.formatDiagnostics(diags, host).trimEnd().split('\n');
}

/**
 * Runs the lab suite against the project in `project` (default: the current
 * directory): type-check, then `npm run lab` with `--impl src/raft.ts` (compiled
 * to .tsraft/raft.mjs, its imports of tsraft left to this same installation)
 * and the given arguments. Returns the exit code.
 */
export async function labTest(args: readonly string[], project = process.cwd(), out: (l: string) => void = (l) => console.log(l)): Promise<number> {
  const entry = path.join(project, 'src', 'raft.ts');
  if (!existsSync(entry)) {
    out(`tsraft lab test: no src/raft.ts in ${project}: run it in a project made by \`tsraft lab init DIR\``);
    return 2;
  }
  if (!args.includes('--help') && !args.includes('-h')) {
    const errors = await typeCheck(project);
    if (errors === null) out('note: TypeScript is not installed with tsraft: src/ is compiled without a type check');
    else if (errors.length > 0) {
      for (const l of errors) out(l);
      out('tsraft lab test: fix the type errors above first');
      return 1;
    }
  }
  process.setSourceMapsEnabled(true);
  const worker = new URL('../lab/main.js', import.meta.url);
  return labMain([...raftTests, ...raftExtensionTests, ...kvTests], worker, ['--impl', entry, ...args], out, { command: 'npm test --', implName: 'src/raft.ts' });
}
