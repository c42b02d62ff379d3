/**
 * What the server keeps about a member in the replicated configuration
 * (`ConfState.context[id]`): its name, where to reach it, its data
 * directory's uid and whether the leader promotes it once it has caught up.
 * Every node learns new members' addresses from it, not from `--peers`.
 */
export interface MemberContext {
  readonly name: string;
  /** Raft transport address, HOST:PORT. */
  readonly peer: string;
  /** HTTP API base URL. */
  readonly api: string;
  /** The member's data-directory uid; absent when an operator added it before it first started. */
  readonly uid?: string | undefined;
  /** Promote it to voter once it has caught up. */
  readonly autoPromote: boolean;
}

export function encodeMemberContext(c: MemberContext): string {
  return JSON.stringify({ name: c.name, peer: c.peer, api: c.api, ...(c.uid !== undefined && { uid: c.uid }), autoPromote: c.autoPromote });
}

/** The context, or null if it is missing or not one of ours (the core carries contexts without reading them). */
export function decodeMemberContext(s: string | undefined): MemberContext | null {
  if (s === undefined) return null;
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o['name'] !== 'string' || typeof o['peer'] !== 'string' || typeof o['api'] !== 'string') return null;
  const uid = o['uid'];
  return { name: o['name'], peer: o['peer'], api: o['api'], uid: typeof uid === 'string' ? uid : undefined, autoPromote: o['autoPromote'] === true };
}
