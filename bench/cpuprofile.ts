/**
 * Summarizes a V8 CPU profile (the `.cpuprofile` JSON that `node --cpu-prof` writes): self
 * time per function (name, file and line) and per file, optionally only for samples within a
 * time window, for `npm run bench -- --compare etcd --profile`.
 */

/** The parts of a `.cpuprofile` read here (V8's Profiler.Profile). */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber?: number };
    readonly hitCount?: number;
    readonly children?: readonly number[];
  }[];
  /** Microseconds, on the profiler's own clock. */
  readonly startTime: number;
  readonly endTime: number;
  /** The node id of each sample's innermost frame. */
  readonly samples: readonly number[];
  /** Microseconds from the previous sample (the first: from startTime). */
  readonly timeDeltas: readonly number[];
}

export interface FunctionSelfTime {
  readonly functionName: string;
  readonly url: string;
  /** 1-based line of the function's start (V8 counts from 0); 0 for V8's own entries like (garbage collector). */
  readonly line: number;
  readonly selfMs: number;
  /** Share of the busy (non-idle) time in the window, percent. */
  readonly pct: number;
  /** Where this self time was spent from: the nearest calling frame outside Node's internals ("name file:line"), largest first, ms. */
  readonly callers: readonly { readonly caller: string; readonly ms: number }[];
}

export interface FileSelfTime {
  /** The script URL; `(native)` for frames without one (V8 builtins, GC, the program itself). */
  readonly url: string;
  readonly selfMs: number;
  readonly pct: number;
}

export interface ProfileSummary {
  /** Time covered by the samples counted, ms. */
  readonly totalMs: number;
  /** Of which in `(idle)`: the event loop waiting. */
  readonly idleMs: number;
  readonly busyMs: number;
  readonly samples: number;
  /** Every function, largest self time first. */
  readonly functions: readonly FunctionSelfTime[];
  /** Every file, largest self time first. */
  readonly files: readonly FileSelfTime[];
}

/** Samples to count: those taken at or after `fromUs` and before `toUs`, in the profile's clock (startTime..endTime). */
export interface ProfileWindow {
  readonly fromUs?: number;
  readonly toUs?: number;
}

/**
 * Self time per function and per file. A sample lasts until the next one (the last until
 * endTime), as Chrome's DevTools counts it; a function that appears under several callers is
 * one function (same name, file and line).
 */
export function summarizeProfile(p: CpuProfile, window: ProfileWindow = {}): ProfileSummary {
  if (!Array.isArray(p.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas) || p.samples.length !== p.timeDeltas.length) {
    throw new Error('not a V8 CPU profile: nodes, samples and timeDeltas (as long as samples) are required');
  }
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  // The nearest calling frame that is not Node's own (node:internal/..., or native frames other than the root):
  // "writev called by writevGeneric" says nothing; which of tsraft's modules wrote is what matters.
  const callerOutsideNode = (id: number): number | undefined => {
    let p = parentOf.get(id);
    for (;;) {
      const cf = p === undefined ? undefined : byId.get(p)?.callFrame;
      if (cf === undefined || !(cf.url.startsWith('node:') || (cf.url === '' && cf.functionName !== '(root)'))) return p;
      p = parentOf.get(p!);
    }
  };
  const frameName = (id: number | undefined): string => {
    const cf = id === undefined ? undefined : byId.get(id)?.callFrame;
    if (cf === undefined) return '(none)';
    return `${cf.functionName === '' ? '(anonymous)' : cf.functionName}${cf.url === '' ? '' : ` ${cf.url}:${cf.lineNumber + 1}`}`;
  };
  const from = window.fromUs ?? -Infinity;
  const to = window.toUs ?? Infinity;
  const fnTime = new Map<string, { functionName: string; url: string; line: number; us: number; callers: Map<string, number> }>();
  let totalUs = 0;
  let idleUs = 0;
  let counted = 0;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    const next = i + 1 < p.samples.length ? t + p.timeDeltas[i + 1]! : p.endTime;
    const dur = Math.max(0, next - t);
    if (t < from || t >= to) continue;
    const node = byId.get(p.samples[i]!);
    if (node === undefined) throw new Error(`sample ${i} names node ${p.samples[i]}, which the profile does not have`);
    const cf = node.callFrame;
    const functionName = cf.functionName === '' ? '(anonymous)' : cf.functionName;
    const line = cf.url === '' ? 0 : cf.lineNumber + 1;
    const key = `${functionName}\u0000${cf.url}\u0000${line}`;
    const e = fnTime.get(key) ?? { functionName, url: cf.url, line, us: 0, callers: new Map<string, number>() };
    e.us += dur;
    const caller = frameName(callerOutsideNode(node.id));
    e.callers.set(caller, (e.callers.get(caller) ?? 0) + dur);
    fnTime.set(key, e);
    totalUs += dur;
    if (functionName === '(idle)') idleUs += dur;
    counted++;
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number): number => (busyUs > 0 ? (100 * us) / busyUs : 0);
  const functions = [...fnTime.values()]
    .filter((f) => f.functionName !== '(idle)')
    .map((f) => ({
      functionName: f.functionName,
      url: f.url,
      line: f.line,
      selfMs: f.us / 1000,
      pct: pct(f.us),
      callers: [...f.callers.entries()].map(([caller, us]) => ({ caller, ms: us / 1000 })).sort((a, b) => b.ms - a.ms),
    }))
    .sort((a, b) => b.selfMs - a.selfMs);
  const fileTime = new Map<string, number>();
  for (const f of functions) fileTime.set(f.url === '' ? '(native)' : f.url, (fileTime.get(f.url === '' ? '(native)' : f.url) ?? 0) + f.selfMs * 1000);
  const files = [...fileTime.entries()].map(([url, us]) => ({ url, selfMs: us / 1000, pct: pct(us) })).sort((a, b) => b.selfMs - a.selfMs);
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, busyMs: busyUs / 1000, samples: counted, functions, files };
}

/** A URL as printed: file:// and the given root stripped, node_modules shortened to the package path. */
export function shortUrl(url: string, root = ''): string {
  let u = url.startsWith('file://') ? url.slice('file://'.length) : url;
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 1);
  if (root !== '' && u.startsWith(root)) u = u.slice(root.length).replace(/^\/+/, '');
  return u === '' ? '(native)' : u;
}

/** The top `n` functions and files as two Markdown tables. */
export function profileTables(s: ProfileSummary, n = 25, root = ''): string {
  const out = [
    `busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled (${s.samples} samples; idle ${s.idleMs.toFixed(0)} ms)`,
    '',
    `| # | function | where | self ms | % of busy |`,
    '|---:|---|---|---:|---:|',
  ];
  s.functions.slice(0, n).forEach((f, i) => out.push(`| ${i + 1} | ${f.functionName} | ${f.url === '' ? '(native)' : `${shortUrl(f.url, root)}:${f.line}`} | ${f.selfMs.toFixed(1)} | ${f.pct.toFixed(1)} |`));
  out.push('', '| file | self ms | % of busy |', '|---|---:|---:|');
  for (const f of s.files.slice(0, n)) out.push(`| ${shortUrl(f.url, root)} | ${f.selfMs.toFixed(1)} | ${f.pct.toFixed(1)} |`);
  out.push('', "callers of the top 5 functions (self ms by the nearest calling frame outside Node's internals):");
  for (const f of s.functions.slice(0, 5)) {
    const cs = f.callers.slice(0, 4).map((c) => `${c.caller.replace(/ (\S+):(\d+)$/, (_m, u: string, l: string) => ` ${shortUrl(u, root)}:${l}`)} ${c.ms.toFixed(1)}`);
    out.push(`- ${f.functionName}: ${cs.join('; ')}`);
  }
  return out.join('\n');
}
