/**
 * The live dashboard (served by every node at `/`): connects to the node it was
 * loaded from, learns the members from its `GET /v1/events` stream, opens a
 * stream to each of them, and draws the cluster: member cards, log tails,
 * messages per second between nodes, a timeline, and the last minute's charts.
 */
import type { EventsEvent, EventsNodeState, EventsRates, EventsSnapshot, EventsStateUpdate } from '../../api/events-format.js';
import { drawChart, type Series } from './chart.js';
import { NodeStream, type SseMessage, type StreamStatus } from './stream.js';

/** What the page knows of one member. */
interface View {
  /** Null until its first snapshot (the node the page came from is known by URL only at first). */
  name: string | null;
  readonly url: string;
  state: EventsNodeState | null;
  status: StreamStatus;
  readonly stream: NodeStream;
  /** The node's events by sequence number. */
  readonly events: Map<number, EventsEvent>;
}

/** Charts' samples: taken every second from each live node's latest rates. */
interface Sample {
  readonly t: number;
  readonly rates: ReadonlyMap<string, EventsRates>;
}

/** A timeline line. */
interface Happening {
  readonly key: string;
  readonly at: number;
  readonly color: string;
  readonly text: string;
  readonly kind: string;
}

const WINDOW_MS = 60_000;
const TOKEN_KEY = 'tsraft.dashboard.token';
const NODE_COLORS = ['#2f6fde', '#e0572b', '#1f9d6b', '#a24bd6', '#c9972a', '#1aa3b8', '#d1477a', '#6c7a1f', '#5b5fc7'];

const views: View[] = [];
const samples: Sample[] = [];
/** Things the dashboard itself saw happen (a node going down or coming back). */
const local: Happening[] = [];
let token: string | null = sessionStorage.getItem(TOKEN_KEY);

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
const svg = <K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] => {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
};

/** A color for a term: distinct hues for neighbouring terms, always light enough for dark text. */
export function termColor(term: number): string {
  return `hsl(${(term * 67 + 200) % 360} 62% 74%)`;
}

function nodeColor(name: string): string {
  const names = sortedNames();
  const i = names.indexOf(name);
  return NODE_COLORS[(i < 0 ? names.length : i) % NODE_COLORS.length]!;
}

function sortedNames(): string[] {
  return views
    .map((v) => v.name)
    .filter((n): n is string => n !== null)
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

const isUp = (v: View): boolean => v.status.kind === 'open' && v.state !== null;

/** The live leader: among nodes whose stream is open and that say they lead, the one with the highest term. */
function leaderView(): View | null {
  let best: View | null = null;
  for (const v of views) if (isUp(v) && v.state!.role === 'leader' && (best === null || v.state!.term > best.state!.term)) best = v;
  return best;
}

function addView(url: string, name: string | null): View {
  const view: View = {
    name,
    url,
    state: null,
    status: { kind: 'connecting' },
    events: new Map(),
    stream: new NodeStream(url, () => token, {
      onMessage: (m) => onMessage(view, m),
      onStatus: (s) => onStatus(view, s),
    }),
  };
  views.push(view);
  view.stream.start();
  return view;
}

function onStatus(v: View, s: StreamStatus): void {
  const was = v.status.kind;
  v.status = s;
  const who = v.name ?? v.url;
  if (s.kind === 'down' && was === 'open') local.push({ key: `down:${who}:${Date.now()}`, at: Date.now(), color: '#b3392f', kind: 'down', text: `${who} stopped answering (${s.why})` });
  if (s.kind === 'unauthorized') $('auth').classList.add('shown');
  schedule();
}

function onMessage(v: View, m: SseMessage): void {
  let data: unknown;
  try {
    data = JSON.parse(m.data);
  } catch {
    return;
  }
  if (m.event === 'snapshot') {
    const snap = data as EventsSnapshot;
    const back = v.name !== null && v.state !== null;
    v.name = snap.node.id;
    v.state = snap.node;
    if (back) local.push({ key: `up:${v.name}:${Date.now()}`, at: Date.now(), color: '#1f8a4c', kind: 'up', text: `${v.name} answers again` });
    for (const e of snap.events) v.events.set(e.seq, e);
    learnMembers(snap.node);
    $('auth').classList.remove('shown');
  } else if (m.event === 'state' && v.state !== null) {
    const { at: _at, ...changed } = data as EventsStateUpdate;
    v.state = { ...v.state, ...changed };
    if (changed.members !== undefined) learnMembers(v.state);
  } else if (m.event === 'event') {
    const e = data as EventsEvent;
    v.events.set(e.seq, e);
    // Keep the last 200 per node.
    if (v.events.size > 200) v.events.delete(v.events.keys().next().value!);
  }
  schedule();
}

/**
 * Opens a stream to every member a node names that the page does not watch yet.
 * When the leader names the members, a node it does not name that has stopped
 * answering was removed from the cluster: its card goes, and the page stops
 * calling it.
 */
function learnMembers(s: EventsNodeState): void {
  for (const m of s.members) {
    if (m.apiUrl === null) continue;
    if (views.some((v) => v.name === m.id || v.url === m.apiUrl)) continue;
    addView(m.apiUrl, m.id);
  }
  if (s.role !== 'leader') return;
  const names = new Set(s.members.map((m) => m.id));
  for (const v of [...views]) {
    if (v.name === null || names.has(v.name) || v.status.kind === 'open') continue;
    v.stream.close();
    views.splice(views.indexOf(v), 1);
    local.push({ key: `left:${v.name}:${Date.now()}`, at: Date.now(), color: '#888', kind: 'down', text: `${v.name} is no longer a member: the page stops watching it` });
  }
}

// ---- rendering ------------------------------------------------------------

let pending = false;
function schedule(): void {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    render();
  });
}

function render(): void {
  renderSummary();
  renderCards();
  renderStrips();
  renderGraph();
  renderTimeline();
}

function known(): View[] {
  return views.filter((v) => v.name !== null).sort((a, b) => a.name!.localeCompare(b.name!, undefined, { numeric: true }));
}

function renderSummary(): void {
  const l = leaderView();
  const up = views.filter(isUp).length;
  const s = $('summary');
  s.replaceChildren();
  const b = (t: string): HTMLElement => el('b', {}, t);
  s.append('leader ', b(l?.name ?? 'none'), ' · term ', b(String(l?.state?.term ?? Math.max(0, ...views.map((v) => v.state?.term ?? 0)))), ' · ', b(`${up}/${views.length}`), ' nodes answering');
  s.dataset['leader'] = l?.name ?? '';
  s.dataset['up'] = String(up);
}

function renderCards(): void {
  const box = $('cards');
  const leader = leaderView();
  const lagOf = (name: string): string => {
    if (leader === null) return '—';
    if (leader.name === name) return '0';
    const p = leader.state!.peers.find((x) => x.id === name);
    return p === undefined ? '—' : String(p.lag);
  };
  const want = known();
  const cards = want.map((v) => {
    const up = isUp(v);
    const s = v.state;
    if (s === null) {
      // A member another node named, never reached yet.
      const card = el('div', { class: 'card', 'data-node': v.name!, 'data-role': 'unknown', 'data-up': 'false', 'data-term': '0' });
      const top = el('div', { class: 'top' });
      top.append(el('span', { class: 'name' }, v.name!), el('span', { class: 'badge down', 'data-field': 'role' }, 'unreached'), el('span', { class: 'url' }, v.url.replace(/^https?:\/\//, '')));
      card.append(top, el('div', { class: 'why' }, v.status.kind === 'down' || v.status.kind === 'unauthorized' ? v.status.why : 'connecting…'));
      return card;
    }
    const member = leader?.state?.members.find((m) => m.id === v.name) ?? s.members.find((m) => m.id === v.name);
    const card = el('div', { class: 'card', 'data-node': v.name!, 'data-role': s.role, 'data-up': String(up), 'data-term': String(s.term) });
    const top = el('div', { class: 'top' });
    top.append(el('span', { class: 'name' }, v.name!));
    top.append(el('span', { class: `badge ${up ? s.role : 'down'}`, 'data-field': 'role' }, up ? s.role : 'down'));
    if (member?.role === 'learner') top.append(el('span', { class: 'badge learner' }, 'learner'));
    top.append(el('span', { class: 'url' }, v.url.replace(/^https?:\/\//, '')));
    card.append(top);
    const dl = el('dl');
    const row = (k: string, val: string, field: string): void => {
      dl.append(el('dt', {}, k), el('dd', { 'data-field': field }, val));
    };
    row('term', String(s.term), 'term');
    row('vote', s.vote ?? '—', 'vote');
    row('commit', String(s.commit), 'commit');
    row('applied', String(s.applied), 'applied');
    row('last', `${s.lastIndex}@${s.lastTerm}`, 'last');
    row('lag', lagOf(v.name!), 'lag');
    row('snapshot', String(s.snapshotIndex), 'snapshot');
    row('leader', s.leader ?? '—', 'leader');
    card.append(dl);
    card.append(el('div', { class: 'why' }, up ? '' : v.status.kind === 'down' || v.status.kind === 'unauthorized' ? v.status.why : 'connecting…'));
    return card;
  });
  box.replaceChildren(...cards);
}

function renderStrips(): void {
  const box = $('strips');
  const vs = known();
  const last = Math.max(0, ...vs.map((v) => v.state?.lastIndex ?? 0));
  const count = 40;
  const from = Math.max(1, last - count + 1);
  const cols = `repeat(${count}, minmax(0, 1fr))`;
  const rows: HTMLElement[] = [];
  for (const v of vs) {
    const s = v.state;
    if (s === null) continue;
    const terms = new Map(s.log.map(([i, t]) => [i, t]));
    const strip = el('div', { class: 'strip', 'data-strip': v.name!, 'data-commit': String(s.commit), 'data-applied': String(s.applied) });
    strip.style.gridTemplateColumns = cols;
    if (!isUp(v)) strip.style.opacity = '0.45';
    for (let i = from; i < from + count; i++) {
      const t = terms.get(i);
      const cell = el('div', { class: 'cell', title: `index ${i}` });
      if (t !== undefined) {
        cell.style.background = termColor(t);
        cell.textContent = String(t);
        cell.dataset['index'] = String(i);
        cell.dataset['term'] = String(t);
        cell.title = `index ${i}, term ${t}${i <= s.commit ? ', committed' : ''}${i <= s.applied ? ', applied' : ''}`;
        if (i > s.commit) cell.classList.add('uncommitted');
        if (i <= s.applied) cell.classList.add('applied');
      } else if (i <= s.snapshotIndex) {
        cell.classList.add('compacted');
        cell.title = `index ${i}: in the snapshot (up to ${s.snapshotIndex})`;
      } else {
        cell.classList.add('empty');
      }
      if (i === s.commit) cell.classList.add('commit');
      strip.append(cell);
    }
    rows.push(el('div', { class: 'label' }, v.name!), strip);
  }
  const axis = el('div', { class: 'strip-axis' });
  axis.style.gridTemplateColumns = cols;
  for (let i = from; i < from + count; i++) axis.append(el('span', {}, i % 5 === 0 ? String(i) : ''));
  rows.push(el('div', { class: 'label' }), axis);
  box.replaceChildren(...rows);
}

function renderGraph(): void {
  const root = $('graph-svg') as unknown as SVGSVGElement;
  const vs = known();
  const W = 520;
  const H = 300;
  const cx = W / 2;
  const cy = H / 2;
  const r = Math.min(W, H) / 2 - 42;
  const pos = new Map<string, { x: number; y: number }>();
  vs.forEach((v, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, vs.length);
    pos.set(v.name!, { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) });
  });
  const kids: SVGElement[] = [];
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#7d8596' }));
  defs.append(marker);
  kids.push(defs);
  const lines: string[] = [];
  let maxRate = 1;
  for (const v of vs) for (const e of Object.values(v.state?.rates?.sent ?? {})) maxRate = Math.max(maxRate, e.total);
  for (const v of vs) {
    if (!isUp(v)) continue;
    for (const [peer, e] of Object.entries(v.state?.rates?.sent ?? {})) {
      const a = pos.get(v.name!);
      const b = pos.get(peer);
      if (a === undefined || b === undefined || e.total <= 0) continue;
      // Each direction bends to its own side, so a→b and b→a do not overlap.
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len = Math.hypot(dx, dy) || 1;
      const nx = -dy / len;
      const ny = dx / len;
      const pad = 26;
      const sx = a.x + (dx / len) * pad + nx * 6;
      const sy = a.y + (dy / len) * pad + ny * 6;
      const ex = b.x - (dx / len) * pad + nx * 6;
      const ey = b.y - (dy / len) * pad + ny * 6;
      const mx = (sx + ex) / 2 + nx * 18;
      const my = (sy + ey) / 2 + ny * 18;
      const width = 1 + 3 * Math.sqrt(e.total / maxRate);
      const g = svg('g', { 'data-edge': `${v.name}>${peer}`, 'data-rate': e.total });
      const title = svg('title');
      title.textContent = `${v.name} → ${peer}: ${Object.entries(e.byType).map(([t, n]) => `${t} ${n}/s`).join(', ')}`;
      g.append(title);
      g.append(svg('path', { d: `M${sx},${sy} Q${mx},${my} ${ex},${ey}`, fill: 'none', stroke: nodeColor(v.name!), 'stroke-width': width.toFixed(1), 'stroke-opacity': 0.75, 'marker-end': 'url(#arrow)' }));
      const lx = (sx + ex) / 4 + mx / 2;
      const ly = (sy + ey) / 4 + my / 2;
      const label = svg('text', { x: lx + nx * 8, y: ly + ny * 8, 'text-anchor': 'middle', 'dominant-baseline': 'middle', 'font-size': 11, fill: '#1d2330', 'paint-order': 'stroke', stroke: '#fff', 'stroke-width': 3 });
      label.textContent = `${fmtRate(e.total)}/s`;
      g.append(label);
      kids.push(g);
      const top = Object.entries(e.byType).sort((x, y) => y[1] - x[1]).slice(0, 3);
      lines.push(`${v.name} → ${peer}: ${fmtRate(e.total)}/s (${top.map(([t, n]) => `${t} ${fmtRate(n)}`).join(', ')})`);
    }
  }
  for (const v of vs) {
    const p = pos.get(v.name!)!;
    const up = isUp(v);
    const role = up ? v.state!.role : 'down';
    const fill = role === 'leader' ? '#1f8a4c' : role === 'down' ? '#b3392f' : role === 'follower' ? '#4a6fa5' : '#d9822b';
    const g = svg('g', { 'data-graph-node': v.name! });
    g.append(svg('circle', { cx: p.x, cy: p.y, r: 22, fill, 'fill-opacity': up ? 1 : 0.5, stroke: '#fff', 'stroke-width': 3 }));
    const t = svg('text', { x: p.x, y: p.y, 'text-anchor': 'middle', 'dominant-baseline': 'central', fill: '#fff', 'font-size': 13, 'font-weight': 700 });
    t.textContent = v.name!;
    g.append(t);
    const sub = svg('text', { x: p.x, y: p.y + 34, 'text-anchor': 'middle', 'font-size': 11, fill: '#6b7385' });
    sub.textContent = up ? `${role} · t${v.state!.term}` : 'down';
    g.append(sub);
    kids.push(g);
  }
  root.replaceChildren(...kids);
  $('edges').textContent = lines.join('\n');
  $('edges').style.whiteSpace = 'pre-line';
}

function fmtRate(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(0) : n.toFixed(1).replace(/\.0$/, '');
}

const KIND_COLORS: Record<string, string> = {
  'election-started': '#d9822b',
  'leader-changed': '#1f8a4c',
  'term-changed': '#8a93a6',
  'snapshot-taken': '#4a6fa5',
  'snapshot-installed': '#7b5ea7',
  'membership-changed': '#c9972a',
};

/** The events every node reported, each happening once (three nodes see the same new leader). */
function happenings(): Happening[] {
  const out = new Map<string, Happening>();
  const elections = new Set<number>();
  for (const v of views) for (const e of v.events.values()) if (e.kind === 'election-started') elections.add(e.term);
  const add = (h: Happening): void => {
    const have = out.get(h.key);
    if (have === undefined || h.at < have.at) out.set(h.key, h);
  };
  for (const v of views) {
    const who = v.name ?? v.url;
    for (const e of v.events.values()) {
      const color = KIND_COLORS[e.kind] ?? '#8a93a6';
      switch (e.kind) {
        case 'leader-changed':
          add({ key: `L:${e.term}:${e.leader}`, at: e.at, color, kind: e.kind, text: `${e.leader ?? 'nobody'} leads in term ${e.term}` });
          break;
        case 'election-started':
          add({ key: `E:${who}:${e.term}`, at: e.at, color, kind: e.kind, text: `${who} started an election for term ${e.term}` });
          break;
        case 'term-changed':
          if (!elections.has(e.term)) add({ key: `T:${e.term}`, at: e.at, color, kind: e.kind, text: `term ${e.term} began (seen first by ${who})` });
          break;
        case 'snapshot-taken':
        case 'snapshot-installed':
          add({ key: `S:${who}:${e.kind}:${e.index}`, at: e.at, color, kind: e.kind, text: `${who} ${e.kind === 'snapshot-taken' ? 'took a snapshot' : 'installed the leader’s snapshot'} at index ${e.index} (${fmtBytes(e.bytes ?? 0)})` });
          break;
        case 'membership-changed':
          add({ key: `M:${e.change}:${(e.voters ?? []).join(',')}:${(e.learners ?? []).join(',')}`, at: e.at, color, kind: e.kind, text: `membership ${e.change}: voters ${(e.voters ?? []).join(', ') || '—'}${(e.learners ?? []).length > 0 ? `; learners ${(e.learners ?? []).join(', ')}` : ''}` });
          break;
      }
    }
  }
  return [...out.values(), ...local].sort((a, b) => b.at - a.at).slice(0, 80);
}

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

let lastTimeline = '';
function renderTimeline(): void {
  const hs = happenings();
  const sig = hs.map((h) => h.key).join('|');
  if (sig === lastTimeline) return;
  lastTimeline = sig;
  const items = hs.map((h) => {
    const li = el('li', { 'data-kind': h.kind });
    const d = new Date(h.at);
    li.append(el('time', { datetime: d.toISOString() }, d.toLocaleTimeString(undefined, { hour12: false })));
    const dot = el('span', { class: 'dot' });
    dot.style.background = h.color;
    const mark = el('span');
    mark.append(dot);
    li.append(mark, el('span', {}, h.text));
    return li;
  });
  $('timeline').replaceChildren(...items);
}

// ---- charts ---------------------------------------------------------------

interface ChartDef {
  readonly title: string;
  readonly unit: string;
  readonly canvas: HTMLCanvasElement;
  readonly keys: HTMLElement;
  series(): Series[];
}

function perNode(pick: (r: EventsRates) => number | null, dashed = false, suffix = ''): Series[] {
  return sortedNames().map((name) => ({
    name: `${name}${suffix}`,
    color: nodeColor(name),
    dashed,
    points: samples.flatMap((s) => {
      const r = s.rates.get(name);
      const v = r === undefined ? null : pick(r);
      return v === null ? [] : [[s.t, v] as const];
    }),
  }));
}

function makeCharts(): ChartDef[] {
  const box = $('charts');
  const def = (id: string, title: string, unit: string, series: () => Series[]): ChartDef => {
    const wrap = el('div', { class: 'chart', 'data-chart': id });
    const canvas = el('canvas');
    const keys = el('div', { class: 'keys' });
    wrap.append(el('h3', {}, title), canvas, keys);
    box.append(wrap);
    return { title, unit, canvas, keys, series };
  };
  return [
    def('throughput', 'Throughput: entries applied per second (solid), client requests per second (dashed)', '/s', () => [...perNode((r) => r.appliedPerSec), ...perNode((r) => r.requestsPerSec, true, ' requests')]),
    def('latency', 'Write latency, proposal to apply: p50 (solid), p99 (dashed)', 'ms', () => [...perNode((r) => r.proposal?.p50Ms ?? null), ...perNode((r) => r.proposal?.p99Ms ?? null, true, ' p99')]),
    def('fsync', 'WAL fsync latency: mean (solid), p99 (dashed)', 'ms', () => [...perNode((r) => r.fsync?.meanMs ?? null), ...perNode((r) => r.fsync?.p99Ms ?? null, true, ' p99')]),
  ];
}

function drawCharts(charts: readonly ChartDef[]): void {
  const now = performance.now();
  for (const c of charts) {
    const series = c.series();
    drawChart(c.canvas, series, now, WINDOW_MS, c.unit);
    c.canvas.dataset['points'] = String(series.reduce((n, s) => n + s.points.length, 0));
    c.keys.replaceChildren(
      ...sortedNames().map((name) => {
        const k = el('span');
        const i = el('i');
        i.style.background = nodeColor(name);
        k.append(i, name);
        return k;
      }),
    );
  }
}

/** Takes the charts' sample of this second: the latest rates of every node that answers. */
function takeSample(): void {
  const rates = new Map<string, EventsRates>();
  for (const v of views) if (isUp(v) && v.state!.rates !== null) rates.set(v.name!, v.state!.rates);
  const t = performance.now();
  samples.push({ t, rates });
  while (samples.length > 0 && samples[0]!.t < t - WINDOW_MS - 5000) samples.shift();
}

// ---- start ----------------------------------------------------------------

$('auth').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = ($('token') as HTMLInputElement).value.trim();
  token = t === '' ? null : t;
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  for (const v of views) v.stream.restart();
});

const charts = makeCharts();
addView(location.origin, null);
window.setInterval(() => {
  takeSample();
  drawCharts(charts);
}, 1000);
window.addEventListener('resize', () => drawCharts(charts));
// A node's card turns "down" on the stream's own timer; render at least twice a second regardless.
window.setInterval(schedule, 500);
