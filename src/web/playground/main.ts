/**
 * The playground page: a {@link Playground} (real tsraft nodes on the
 * simulator) driven from requestAnimationFrame at the chosen speed, drawn as a
 * ring in SVG, with the user's actions queued and applied between frames.
 * The URL hash holds a session (seed, size, timed actions, time reached):
 * opening it replays the session, then goes on live.
 *
 * Test API: `window.tsraftPlayground` (see {@link PlaygroundPageApi}).
 */
import { Playground, decodeSession, encodeSession, type PlaygroundAction, type PlaygroundSession, type PlaygroundSize } from '../../sim/playground.js';
import type { PlaygroundPageApi } from './handle.js';

declare global {
  interface Window {
    tsraftPlayground: PlaygroundPageApi;
  }
}

const SVG = 'http://www.w3.org/2000/svg';
const W = 800;
const H = 520;
const CX = W / 2;
const CY = H / 2 + 4;
const RING = 178;
const NODE_R = 42;
/** Term colors: distinct, readable with white text. */
const PALETTE = ['#2e6ae6', '#e5484d', '#12a594', '#8e4ec6', '#f76b15', '#0d74ce', '#d6409f', '#46a758', '#ad7f58', '#5b5bd6'];
const termColor = (t: number | null): string => (t === null || t <= 0 ? '#98a2b3' : PALETTE[(t - 1) % PALETTE.length]!);

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page: no element #${id}`);
  return el as T;
};

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, parent?: Element): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.appendChild(e);
  return e;
}

function toast(text: string): void {
  const t = $('toast');
  t.textContent = text;
  t.classList.add('show');
  window.setTimeout(() => t.classList.remove('show'), 2600);
}

/** Short words for a message: `AE t4 [8..12] c7`, `RV↩ t5 ✓`. */
function shortWords(words: string): string {
  return words
    .replace(/^AppendEntriesReply/, 'AE↩')
    .replace(/^AppendEntries/, 'AE')
    .replace(/^HeartbeatReply/, 'HB↩')
    .replace(/^Heartbeat/, 'HB')
    .replace(/^RequestVoteReply/, 'RV↩')
    .replace(/^RequestVote/, 'RV')
    .replace(/^PreVoteReply/, 'PV↩')
    .replace(/^PreVote/, 'PV')
    .replace(/^InstallSnapshotReply/, 'IS↩')
    .replace(/^InstallSnapshot/, 'IS')
    .replace(/ granted\b/, ' ✓')
    .replace(/ rejected\b/, ' ✗')
    .replace(/ commit (\d+)/, ' c$1')
    .replace(/ round \d+/, '')
    .replace(/ last (\S+)/, ' last $1');
}

// ---- state ------------------------------------------------------------------------------

let pg: Playground;
let ready = false;
let paused = false;
let speed = 0.2;
/** Virtual time the page wants to have reached. */
let wanted = 0;
let working = false;
const queue: { action: PlaygroundAction; resolve: () => void; reject: (e: unknown) => void }[] = [];
let frames: number[] = [];
let generation = 0;
let replayedAt: { fingerprint: string; now: number } | null = null;

// ---- drawing: the ring -------------------------------------------------------------------

interface NodeShape {
  g: SVGGElement;
  halo: SVGCircleElement;
  body: SVGCircleElement;
  role: SVGTextElement;
  name: SVGTextElement;
  info: SVGTextElement;
  vote: SVGTextElement;
  mark: SVGTextElement;
}

const ring = $('ring') as unknown as SVGSVGElement;
let positions: { x: number; y: number }[] = [];
let linkShapes = new Map<string, { hit: SVGLineElement; line: SVGLineElement; ab: SVGPathElement; ba: SVGPathElement; a: number; b: number }>();
let nodeShapes: NodeShape[] = [];
let msgLayer: SVGGElement;
let dropLayer: SVGGElement;
const msgPool: { g: SVGGElement; dot: SVGPathElement; label: SVGTextElement }[] = [];
const dropPool: SVGTextElement[] = [];

function layout(n: number): void {
  ring.replaceChildren();
  positions = Array.from({ length: n }, (_, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    return { x: CX + RING * Math.cos(a), y: CY + RING * Math.sin(a) };
  });
  const defs = el('defs', {}, ring);
  const glow = el('filter', { id: 'glow', x: '-50%', y: '-50%', width: '200%', height: '200%' }, defs);
  el('feDropShadow', { dx: 0, dy: 2, stdDeviation: 4, 'flood-color': '#101828', 'flood-opacity': 0.18 }, glow);
  const links = el('g', {}, ring);
  linkShapes = new Map();
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const p = positions[a]!;
      const q = positions[b]!;
      const g = el('g', { class: 'link' }, links);
      const line = el('line', { x1: p.x, y1: p.y, x2: q.x, y2: q.y, stroke: '#d0d5dd', 'stroke-width': 1.5 }, g);
      // Each direction's cut is drawn on its half, next to the sender.
      const ab = el('path', { d: `M${p.x},${p.y} L${(p.x + q.x) / 2},${(p.y + q.y) / 2}`, stroke: 'transparent', 'stroke-width': 3, 'stroke-dasharray': '6 5' }, g);
      const ba = el('path', { d: `M${q.x},${q.y} L${(p.x + q.x) / 2},${(p.y + q.y) / 2}`, stroke: 'transparent', 'stroke-width': 3, 'stroke-dasharray': '6 5' }, g);
      const hit = el('line', { x1: p.x, y1: p.y, x2: q.x, y2: q.y, stroke: 'transparent', 'stroke-width': 16, 'data-link': `${a}-${b}` }, g);
      el('title', {}, hit).textContent = `link ${a} ↔ ${b}: click to cut or heal (shift-click: one way, ${a} → ${b})`;
      hit.addEventListener('click', (ev) => onLinkClick(a, b, ev.shiftKey));
      linkShapes.set(`${a}-${b}`, { hit, line, ab, ba, a, b });
    }
  }
  // Messages travel along the links: clicks pass through them, or a link could not be cut while a message
  // crosses where it is clicked (each message's words are in the event list below, as they happen).
  msgLayer = el('g', { 'pointer-events': 'none' }, ring);
  dropLayer = el('g', { 'pointer-events': 'none' }, ring);
  msgPool.length = 0;
  dropPool.length = 0;
  const nodesLayer = el('g', {}, ring);
  nodeShapes = positions.map((p, i) => {
    const g = el('g', { class: 'node', transform: `translate(${p.x},${p.y})`, 'data-node': i, 'data-testid': `node-${i}` }, nodesLayer);
    const halo = el('circle', { r: NODE_R + 7, fill: 'none', stroke: 'transparent', 'stroke-width': 4 }, g);
    const body = el('circle', { r: NODE_R, fill: '#98a2b3', filter: 'url(#glow)', stroke: '#fff', 'stroke-width': 3 }, g);
    const role = el('text', { 'text-anchor': 'middle', y: 9, 'font-size': 28, 'font-weight': 700, fill: '#fff' }, g);
    const mark = el('text', { 'text-anchor': 'middle', y: -16, 'font-size': 13, fill: '#fff', 'font-weight': 600 }, g);
    // Labels on the outer side of the ring, away from the links and the messages on them.
    const above = p.y < CY - 20;
    const name = el('text', { 'text-anchor': 'middle', y: above ? -NODE_R - 26 : NODE_R + 22, 'font-size': 14, 'font-weight': 650, fill: '#1d2433' }, g);
    const info = el('text', { 'text-anchor': 'middle', y: above ? -NODE_R - 10 : NODE_R + 38, 'font-size': 12, fill: '#475467' }, g);
    const vote = el('text', { 'text-anchor': 'middle', y: 26, 'font-size': 11, fill: '#fff' }, g);
    g.addEventListener('click', (ev) => openMenu(i, ev));
    return { g, halo, body, role, name, info, vote, mark };
  });
}

function msgShape(i: number): (typeof msgPool)[number] {
  while (msgPool.length <= i) {
    const g = el('g', {}, msgLayer);
    const dot = el('path', { d: 'M-7,-5 L7,0 L-7,5 Z', stroke: '#fff', 'stroke-width': 1.2 }, g);
    const label = el('text', { class: 'msg-label', x: 9, y: -7 }, g);
    msgPool.push({ g, dot, label });
  }
  return msgPool[i]!;
}

function dropShape(i: number): SVGTextElement {
  while (dropPool.length <= i) dropPool.push(el('text', { 'text-anchor': 'middle', 'font-size': 18, 'font-weight': 700, fill: '#d92d20' }, dropLayer));
  return dropPool[i]!;
}

const ROLE_LETTER: Record<string, string> = { leader: 'L', candidate: 'C', precandidate: 'P', follower: 'F' };

function drawRing(): void {
  const views = pg.nodes();
  const leader = pg.leader();
  const now = pg.now;
  for (const v of views) {
    const s = nodeShapes[v.id]!;
    const up = v.status === 'up';
    s.body.setAttribute('fill', up ? termColor(v.term) : '#e4e7ec');
    s.body.setAttribute('stroke', v.paused ? '#f79009' : '#fff');
    s.body.setAttribute('stroke-dasharray', v.paused ? '7 5' : '');
    s.role.textContent = up ? (ROLE_LETTER[v.role ?? ''] ?? '?') : v.status === 'starting' ? '…' : '✕';
    s.role.setAttribute('fill', up ? '#fff' : '#98a2b3');
    s.mark.textContent = v.paused ? 'paused' : '';
    s.halo.setAttribute('stroke', v.id === leader ? termColor(v.term) : 'transparent');
    s.halo.setAttribute('stroke-opacity', '0.35');
    s.name.textContent = `node ${v.id}${up ? '' : v.status === 'down' ? ' (crashed)' : ` (${v.status})`}`;
    s.info.textContent = up ? `term ${v.term} · commit ${v.commit} · last ${v.lastIndex}` : `disk: vote ${v.vote ?? '-'}, log to ${v.lastIndex}`;
    s.vote.textContent = up && v.vote !== null && v.role !== 'leader' ? `voted ${v.vote}` : '';
  }
  // Links: a cut direction in red on the sender's half.
  for (const l of linkShapes.values()) {
    const ab = pg.isCut(l.a, l.b);
    const ba = pg.isCut(l.b, l.a);
    l.ab.setAttribute('stroke', ab ? '#d92d20' : 'transparent');
    l.ba.setAttribute('stroke', ba ? '#d92d20' : 'transparent');
    l.line.setAttribute('stroke', ab || ba ? '#fecdca' : '#d0d5dd');
  }
  // Messages in flight.
  const inflight = pg.messagesInFlight();
  const labelled = inflight.length <= 14;
  let k = 0;
  for (const m of inflight) {
    const p = positions[m.from];
    const q = positions[m.to];
    if (p === undefined || q === undefined) continue;
    const span = m.arriveAt - m.sentAt;
    let f = m.held === 'out' ? 0.06 : m.held === 'in' ? 0.94 : span <= 0 ? 1 : Math.min(1, Math.max(0, (now - m.sentAt) / span));
    // Start and end at the circles' edges, not their centers.
    const dx = q.x - p.x;
    const dy = q.y - p.y;
    const len = Math.hypot(dx, dy);
    const edge = (NODE_R + 4) / len;
    f = edge + f * (1 - 2 * edge);
    const x = p.x + dx * f;
    const y = p.y + dy * f;
    const angle = (Math.atan2(dy, dx) * 180) / Math.PI;
    const s = msgShape(k++);
    s.g.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    s.dot.setAttribute('transform', `rotate(${angle.toFixed(1)})`);
    const reply = m.name.endsWith('Reply');
    s.dot.setAttribute('fill', m.ok === false ? '#d92d20' : reply ? '#12a594' : termColor(m.term));
    s.label.textContent = labelled ? shortWords(m.words) : '';
    s.g.style.display = '';
  }
  for (let i = k; i < msgPool.length; i++) msgPool[i]!.g.style.display = 'none';
  // Lost messages: a red cross that fades.
  const drops = pg.recentDrops(120);
  let d = 0;
  for (const m of drops) {
    const p = positions[m.from];
    const q = positions[m.to];
    if (p === undefined || q === undefined) continue;
    const f = m.atSend ? 0.3 : 0.7;
    const s = dropShape(d++);
    s.setAttribute('x', String(p.x + (q.x - p.x) * f));
    s.setAttribute('y', String(p.y + (q.y - p.y) * f + 6));
    s.setAttribute('opacity', String(Math.max(0.1, 1 - (now - m.at) / 120)));
    s.textContent = '✕';
    s.style.display = '';
  }
  for (let i = d; i < dropPool.length; i++) dropPool[i]!.style.display = 'none';
}

// ---- drawing: logs, client requests, events ---------------------------------------------------

let lastLogKey = '';
function drawLogs(): void {
  const views = pg.nodes();
  const key = views.map((v) => `${v.status}${v.commit}:${v.tailFirst}:${v.tailTerms.join(',')}`).join('|');
  if (key === lastLogKey) return;
  lastLogKey = key;
  const maxLast = Math.max(0, ...views.map((v) => v.tailFirst + v.tailTerms.length - 1));
  const cols = 24;
  const from = Math.max(1, maxLast - cols + 1);
  const rows: string[] = [];
  let head = '<tr><td></td>';
  for (let i = from; i < from + cols; i++) head += `<th>${i}</th>`;
  rows.push(head + '</tr>');
  for (const v of views) {
    let r = `<tr><td class="name">node ${v.id}</td>`;
    for (let i = from; i < from + cols; i++) {
      const j = i - v.tailFirst;
      const term = j >= 0 && j < v.tailTerms.length ? v.tailTerms[j]! : null;
      if (term === null) {
        r += '<td class="e empty"></td>';
        continue;
      }
      const cls = ['e', v.status !== 'up' ? 'down' : '', v.commit !== null && i > v.commit ? 'uncommitted' : '', v.commit === i ? 'commit' : ''].filter((c) => c !== '').join(' ');
      r += `<td class="${cls}" style="background:${termColor(term)}" title="entry ${i}, term ${term}">${term}</td>`;
    }
    rows.push(r + '</tr>');
  }
  $('log-table').innerHTML = `<table>${rows.join('')}</table>`;
}

let lastOpsKey = '';
function drawOps(): void {
  const ops = pg.clientOps();
  const key = ops.map((o) => `${o.id}${o.status}`).join(',');
  if (key === lastOpsKey) return;
  lastOpsKey = key;
  const list = $('ops');
  list.replaceChildren();
  for (const o of [...ops].reverse().slice(0, 40)) {
    const li = document.createElement('li');
    li.dataset['op'] = String(o.id);
    li.dataset['status'] = o.status;
    const what = o.op === 'put' ? `put(${o.key}, ${o.value})` : `get(${o.key})`;
    const via = o.node === null ? 'no leader' : `node ${o.node}`;
    const ms = o.returnedAt !== undefined ? ` · ${(o.returnedAt - o.calledAt).toFixed(0)} ms` : '';
    const res = o.status === 'ok' ? (o.op === 'put' ? `revision ${o.result}` : o.result === null ? 'not found' : JSON.stringify(o.result)) : (o.error ?? 'waiting');
    const st = document.createElement('span');
    st.className = `st ${o.status}`;
    st.textContent = o.status;
    const text = document.createElement('span');
    text.textContent = `#${o.id} ${what} via ${via}: ${res}${ms}`;
    li.append(st, text);
    list.appendChild(li);
  }
}

let lastEventKey = '';
function drawEvents(): void {
  const evs = pg.recentEvents(60);
  const key = `${evs.length}:${evs.at(-1)?.at}:${evs.at(-1)?.line}`;
  if (key === lastEventKey) return;
  lastEventKey = key;
  const list = $('events');
  list.replaceChildren();
  for (const e of [...evs].reverse()) {
    const li = document.createElement('li');
    if (e.line.startsWith('you:')) li.className = 'you';
    const t = document.createElement('span');
    t.className = 't';
    t.textContent = (e.at / 1000).toFixed(3);
    li.append(t, e.line);
    li.title = e.line;
    list.appendChild(li);
  }
}

function drawStatus(): void {
  $('clock').textContent = `t = ${(pg.now / 1000).toFixed(3)} s`;
  const s = pg.messageStats();
  $('status-line').textContent = `${s.sent} messages sent, ${s.dropped} lost · ${fps().toFixed(0)} fps · run ${pg.fingerprint()}`;
  const f = pg.failure;
  const banner = $('banner');
  if (f !== null) {
    banner.textContent = `Safety check failed at t = ${(f.at / 1000).toFixed(3)} s: ${f.check}: ${f.message}`;
    banner.classList.add('show');
  } else banner.classList.remove('show');
  const options = $<HTMLSelectElement>('target');
  if (options.options.length !== pg.size + 1) {
    const keep = options.value;
    options.replaceChildren(new Option('via the leader', 'leader'), ...Array.from({ length: pg.size }, (_, i) => new Option(`via node ${i}`, String(i))));
    options.value = keep === 'leader' || Number(keep) < pg.size ? keep : 'leader';
  }
}

function fps(): number {
  const now = performance.now();
  frames = frames.filter((t) => now - t < 1000);
  return frames.length;
}

// ---- interaction ---------------------------------------------------------------------------

function act(action: PlaygroundAction): Promise<void> {
  return new Promise((resolve, reject) => queue.push({ action, resolve, reject }));
}

function actOrToast(action: PlaygroundAction): void {
  act(action).catch((e: unknown) => toast(e instanceof Error ? e.message : String(e)));
}

function onLinkClick(a: number, b: number, oneWay: boolean): void {
  closeMenu();
  if (oneWay) {
    actOrToast({ kind: pg.isCut(a, b) ? 'heal' : 'cut', from: a, to: b, both: false });
    return;
  }
  const cut = pg.isCut(a, b) || pg.isCut(b, a);
  actOrToast({ kind: cut ? 'heal' : 'cut', from: a, to: b, both: true });
}

function openMenu(id: number, ev: MouseEvent): void {
  ev.stopPropagation();
  const v = pg.nodes()[id]!;
  const menu = $('menu');
  menu.replaceChildren();
  const title = document.createElement('div');
  title.className = 'title';
  title.textContent = `node ${id}: ${v.status === 'up' ? `${v.role}, term ${v.term}` : v.status}`;
  menu.appendChild(title);
  const items: [string, PlaygroundAction, boolean][] = [
    ['Crash', { kind: 'crash', node: id }, v.status === 'up'],
    ['Restart', { kind: 'restart', node: id }, v.status === 'down'],
    ['Pause', { kind: 'pause', node: id }, v.status === 'up' && !v.paused],
    ['Resume', { kind: 'resume', node: id }, v.paused],
    ['Isolate (cut all its links)', { kind: 'isolate', node: id }, true],
    ['Heal every link', { kind: 'heal-all' }, pg.cutLinks().length > 0],
  ];
  for (const [label, action, enabled] of items) {
    const b = document.createElement('button');
    b.textContent = label;
    b.disabled = !enabled;
    b.dataset['testid'] = `menu-${action.kind}`;
    b.addEventListener('click', () => {
      closeMenu();
      actOrToast(action);
    });
    menu.appendChild(b);
  }
  const stage = $('stage').getBoundingClientRect();
  menu.style.left = `${Math.min(ev.clientX - stage.left + 8, stage.width - 170)}px`;
  menu.style.top = `${ev.clientY - stage.top + 8}px`;
  menu.classList.add('show');
}

function closeMenu(): void {
  $('menu').classList.remove('show');
}

function setSpeed(x: number): void {
  speed = Math.min(10, Math.max(0.1, x));
  $<HTMLInputElement>('speed').value = String(Math.log10(speed));
  $('speed-text').textContent = `${speed < 1 ? speed.toFixed(2) : speed.toFixed(1)}x`;
}

function setPaused(p: boolean): void {
  paused = p;
  $('play').textContent = p ? 'Play' : 'Pause';
}

function sessionLink(): string {
  return encodeSession(pg.session());
}

function wire(): void {
  document.addEventListener('click', (ev) => {
    if (!(ev.target instanceof Node) || !$('menu').contains(ev.target)) closeMenu();
  });
  $('play').addEventListener('click', () => setPaused(!paused));
  $<HTMLInputElement>('speed').addEventListener('input', (ev) => setSpeed(10 ** Number((ev.target as HTMLInputElement).value)));
  $('new-session').addEventListener('click', () => {
    const seed = Math.max(0, Math.floor(Number($<HTMLInputElement>('seed').value) || 0));
    const size = Number($<HTMLSelectElement>('size').value) as PlaygroundSize;
    history.replaceState(null, '', `#s=${seed}&n=${size}`);
    void boot({ seed, nodes: size, actions: [], until: 0 });
  });
  $('copy-link').addEventListener('click', () => {
    const link = sessionLink();
    history.replaceState(null, '', `#${link}`);
    const url = location.href;
    // The clipboard may be refused (a file:// page, no permission): the address bar has the link anyway.
    if (typeof navigator.clipboard?.writeText !== 'function') toast('The link is in the address bar');
    else
      navigator.clipboard.writeText(url).then(
        () => toast('Link copied: it replays this session'),
        () => toast('The link is in the address bar'),
      );
  });
  const form = $<HTMLFormElement>('client-form');
  const send = (op: 'put' | 'get'): void => {
    const key = $<HTMLInputElement>('key').value;
    const value = $<HTMLInputElement>('value').value;
    const t = $<HTMLSelectElement>('target').value;
    const target = t === 'leader' ? 'leader' : Number(t);
    actOrToast(op === 'put' ? { kind: 'put', key, value, target } : { kind: 'get', key, target });
    if (op === 'put' && /^\d+$/.test(value)) $<HTMLInputElement>('value').value = String(Number(value) + 1);
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    send('put');
  });
  $('get').addEventListener('click', () => send('get'));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === ' ' && !(ev.target instanceof HTMLInputElement)) {
      ev.preventDefault();
      setPaused(!paused);
    }
  });
}

// ---- the loop -------------------------------------------------------------------------------

/** One step of the simulation: the queued actions, then time up to what the page wants. */
async function work(gen: number): Promise<void> {
  working = true;
  try {
    for (const q of queue.splice(0)) {
      try {
        await pg.apply(q.action);
        q.resolve();
      } catch (e) {
        q.reject(e);
      }
    }
    if (gen === generation && wanted > pg.now) await pg.runUntil(wanted);
  } finally {
    working = false;
  }
}

let lastFrame = 0;
function frame(ts: number): void {
  frames.push(performance.now());
  const dt = lastFrame === 0 ? 0 : Math.min(100, ts - lastFrame);
  lastFrame = ts;
  if (ready) {
    if (!paused && pg.failure === null) {
      wanted = Math.max(wanted, pg.now) + dt * speed;
      // Never run far behind: the page slows down rather than piling up work.
      wanted = Math.min(wanted, pg.now + 250);
    }
    if (!working) void work(generation);
    drawRing();
    drawLogs();
    drawOps();
    drawEvents();
    drawStatus();
  }
  requestAnimationFrame(frame);
}

async function boot(session: PlaygroundSession): Promise<void> {
  const gen = ++generation;
  ready = false;
  replayedAt = null;
  while (working) await new Promise((r) => setTimeout(r, 5));
  for (const q of queue.splice(0)) q.reject(new Error('a new cluster was started'));
  $<HTMLInputElement>('seed').value = String(session.seed);
  $<HTMLSelectElement>('size').value = String(session.nodes);
  layout(session.nodes);
  lastLogKey = lastOpsKey = lastEventKey = '';
  const overlay = $('overlay');
  if (session.actions.length > 0 || session.until > 0) {
    overlay.textContent = 'replaying the session...';
    overlay.classList.add('show');
    pg = await Playground.replay(session, {
      onProgress: (t) => {
        overlay.textContent = `replaying the session: ${(t / 1000).toFixed(1)} of ${(session.until / 1000).toFixed(1)} s`;
      },
    });
    overlay.classList.remove('show');
    replayedAt = { fingerprint: pg.fingerprint(), now: pg.now };
    toast(`Replayed ${session.actions.length} action(s) to t = ${(session.until / 1000).toFixed(3)} s; live now`);
  } else {
    pg = new Playground({ seed: session.seed, nodes: session.nodes });
    await pg.start();
  }
  if (gen !== generation) return;
  wanted = pg.now;
  ready = true;
}

function sessionFromUrl(): PlaygroundSession {
  const hash = location.hash.replace(/^#/, '');
  if (hash === '') return { seed: Math.floor(Math.random() * 1e6), nodes: 5, actions: [], until: 0 };
  try {
    return decodeSession(hash);
  } catch (e) {
    toast(e instanceof Error ? e.message : String(e));
    return { seed: 1, nodes: 5, actions: [], until: 0 };
  }
}

window.tsraftPlayground = {
  ready: () => ready,
  now: () => pg.now,
  leader: () => pg.leader(),
  nodes: () => pg.nodes(),
  clientOps: () => pg.clientOps(),
  apply: act,
  link: sessionLink,
  fingerprint: () => pg.fingerprint(),
  failure: () => (pg.failure === null ? null : `${pg.failure.check}: ${pg.failure.message}`),
  setSpeed,
  setPaused,
  fps,
  replayed: () => replayedAt,
};

wire();
setSpeed(speed);
requestAnimationFrame(frame);
void boot(sessionFromUrl());
