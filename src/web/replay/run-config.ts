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

export function readRunConfig(doc: Document, search: string): SimRunConfig {
  const el = doc.getElementById('tsraft-run');
  const text = el?.textContent?.trim() ?? '';
  if (text !== '') return JSON.parse(text) as SimRunConfig;
  const q = new URLSearchParams(search);
  const num = (k: string): number | undefined => (q.get(k) === null ? undefined : Number(q.get(k)));
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
export function commandOf(c: SimRunConfig): string {
  return (
    `npm run sim -- --seed ${c.seed}` +
    (c.nodes !== undefined ? ` --nodes ${c.nodes}` : '') +
    (c.profile !== undefined && c.profile !== 'swarm' ? ` --profile ${c.profile}` : '') +
    (c.ops !== undefined && c.ops !== 100 ? ` --ops ${c.ops}` : '') +
    (c.canary !== undefined ? ` --canary ${c.canary}` : '') +
    (c.durationMs !== undefined ? ` --duration ${c.durationMs}` : '')
  );
}
