import type { ProfileName } from '../../sim/faults.js';
import type { CanaryName } from '../../util/canary.js';

/**
 * The run a replay page re-runs: embedded by `npm run sim -- --html FILE` in
 * `<script type="application/json" id="tsraft-run">`, or given in the URL's
 * query (`replay.html?seed=42&nodes=5`).
 */
export interface SimRunConfig {
  readonly kind: 'sim';
  readonly seed: number;
  readonly nodes?: number | undefined;
  readonly profile?: ProfileName | undefined;
  readonly ops?: number | undefined;
  readonly canary?: CanaryName | undefined;
  readonly durationMs?: number | undefined;
  /** The trace hash the CLI printed, to show that the page's run is the same run. */
  readonly cliHash?: string | undefined;
}

/**
 * A lab test the page re-runs: embedded by `npm run lab -- --seed S --grep NAME --html FILE`,
 * or given in the URL's query (`replay.html?lab=Test+(2A):+initial+election&seed=3`).
 */
export interface LabRunConfig {
  readonly kind: 'lab';
  /** The test's title, exactly (src/lab/suite). */
  readonly title: string;
  readonly seed: number;
  /** The trace hash the CLI printed. */
  readonly cliHash?: string | undefined;
}

export type RunConfig = SimRunConfig | LabRunConfig;

/** The run of this page: embedded (`doc` is the page's document), or from the URL's query. */
export function readRunConfig(doc: { getElementById(id: string): { textContent: string | null } | null }, search: string): RunConfig {
  const el = doc.getElementById('tsraft-run');
  const text = el?.textContent?.trim() ?? '';
  if (text !== '') return JSON.parse(text) as RunConfig;
  const q = new URLSearchParams(search);
  const num = (k: string): number | undefined => (q.get(k) === null ? undefined : Number(q.get(k)));
  const lab = q.get('lab');
  if (lab !== null) return { kind: 'lab', title: lab, seed: num('seed') ?? 1 };
  return {
    kind: 'sim',
    seed: num('seed') ?? 1,
    nodes: num('nodes'),
    profile: (q.get('profile') ?? undefined) as ProfileName | undefined,
    ops: num('ops'),
    canary: (q.get('canary') ?? undefined) as CanaryName | undefined,
    durationMs: num('duration'),
  };
}

/** The command line that makes this run. */
export function commandOf(c: RunConfig): string {
  if (c.kind === 'lab') {
    const re = `^${c.title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
    return `npm run lab -- --seed ${c.seed} --grep '${re.replace(/'/g, `'\\''`)}'`;
  }
  return (
    `npm run sim -- --seed ${c.seed}` +
    (c.nodes !== undefined ? ` --nodes ${c.nodes}` : '') +
    (c.profile !== undefined && c.profile !== 'swarm' ? ` --profile ${c.profile}` : '') +
    (c.ops !== undefined && c.ops !== 100 ? ` --ops ${c.ops}` : '') +
    (c.canary !== undefined ? ` --canary ${c.canary}` : '') +
    (c.durationMs !== undefined ? ` --duration ${c.durationMs}` : '')
  );
}
