import type { CutsEvent, FailureEvent, FaultEvent, NodeFrame } from '../../sim/observe.js';
import { suspectNodes, type DropMark, type Flight } from './recording.js';

/** What the cluster looks like at one moment: what {@link ClusterView.draw} draws. */
export interface ClusterScene {
  /** Virtual time (ms). */
  readonly t: number;
  /** Every node's frame at `t`. */
  readonly nodes: readonly NodeFrame[];
  /** Message copies on the wire at `t`. */
  readonly flights: readonly Flight[];
  /** Messages lost at send shortly before `t`. */
  readonly drops: readonly DropMark[];
  readonly cuts: CutsEvent | undefined;
  /** Faults shortly before `t` (badges that fade). */
  readonly faults: readonly FaultEvent[];
  /** The run's first failed check, drawn once `t` reaches it. */
  readonly failure: FailureEvent | null;
  /** Callers that are not nodes (a lab test's clerks, negative ids), drawn in a row under the ring. */
  readonly clerks?: readonly number[];
}

const TERM_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#8cd17d', '#d37295', '#499894'];

/** The color of a term: the same term is the same color on every node, in every view. */
export function termColor(term: number): string {
  return term <= 0 ? '#bab0ac' : TERM_COLORS[(term - 1) % TERM_COLORS.length]!;
}

const ROLE_FILL: Record<string, string> = { leader: '#fff4cc', candidate: '#ffe0c2', precandidate: '#fff0e0', follower: '#eef3fb' };
const LOG_WINDOW = 30;
const FAULT_BADGE_MS = 1500;
const DROP_MS = 250;

/** A message's color: by its kind, and replies by their answer. */
function flightColor(f: Flight): string {
  if (f.ok === false) return '#d62728';
  switch (f.name) {
    case 'AppendEntries':
      return f.entries > 0 ? '#1f5fbf' : '#7aa6e0';
    case 'Heartbeat':
    case 'HeartbeatReply':
      return '#9bb7dd';
    case 'RequestVote':
    case 'PreVote':
      return '#e07b00';
    case 'RequestVoteReply':
    case 'PreVoteReply':
    case 'AppendEntriesReply':
      return '#2f9e44';
    case 'InstallSnapshot':
    case 'InstallSnapshotReply':
      return '#8c564b';
    case 'TimeoutNow':
      return '#9467bd';
    default:
      return '#555';
  }
}

/**
 * Draws a cluster at one moment on a canvas: the nodes in a ring (role, term,
 * vote, status, faults), messages in flight as moving arrows labelled in
 * words, cut links, and each node's log tail as a strip of entries colored by
 * term with commit and apply marks. Stateless between calls: any moment can
 * be drawn in any order (the replay page's scrubber, the playground's live view).
 */
export class ClusterView {
  private readonly ctx: CanvasRenderingContext2D;
  private width = 0;
  private height = 0;
  private ids: number[] = [];
  private clerks: readonly number[] = [];

  /** `prefix` names the nodes: `n0` in simulated runs, `S0` in lab tests (as the tester prints them). */
  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly prefix: string = 'n',
  ) {
    const ctx = canvas.getContext('2d');
    if (ctx === null) throw new Error('ClusterView: no 2D canvas context');
    this.ctx = ctx;
    this.resize();
  }

  /** Fits the drawing buffer to the canvas's size on screen (call when it changes). */
  resize(): void {
    const dpr = window.devicePixelRatio || 1;
    const r = this.canvas.getBoundingClientRect();
    this.width = Math.max(300, r.width);
    this.height = Math.max(200, r.height);
    this.canvas.width = Math.round(this.width * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  /** Where node `id` sits (the ring has a place for every node ever seen). */
  private place(id: number): { x: number; y: number } {
    const ringW = this.width * 0.5;
    // Clerks sit in a row along the bottom; the ring makes room for them.
    const clerkRow = this.clerks.length > 0 ? 44 : 0;
    if (id < 0) {
      const k = Math.max(0, this.clerks.indexOf(id));
      return { x: (ringW * (k + 0.5)) / this.clerks.length, y: this.height - 20 };
    }
    const i = this.ids.indexOf(id);
    const n = Math.max(1, this.ids.length);
    const cx = ringW / 2;
    const cy = (this.height - clerkRow) / 2;
    const rad = Math.min(ringW, this.height - clerkRow) / 2 - 58;
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    return n === 1 ? { x: cx, y: cy } : { x: cx + rad * Math.cos(a), y: cy + rad * Math.sin(a) };
  }

  draw(s: ClusterScene): void {
    const c = this.ctx;
    for (const f of s.nodes) if (!this.ids.includes(f.id)) this.ids.push(f.id);
    this.ids.sort((a, b) => a - b);
    this.clerks = s.clerks ?? [];
    c.clearRect(0, 0, this.width, this.height);
    const failed = s.failure !== null && s.t >= s.failure.t;
    const suspects = failed ? suspectNodes(s.failure!.message) : new Set<number>();
    this.drawCuts(s.cuts);
    // Each node's circle and its role and vote lines above it are taken: message words go around them.
    this.labels = s.nodes.map((n) => {
      const p = this.place(n.id);
      return { x: p.x - 42, y: p.y - 56, w: 84, h: 86 };
    });
    for (const f of s.flights) this.drawFlight(f, s.t, s.flights.length);
    for (const d of s.drops) this.drawDrop(d, s.t);
    for (const id of this.clerks) this.drawClerk(id);
    for (const n of s.nodes) this.drawNode(n, s, suspects.has(n.id));
    this.drawLogs(s.nodes, suspects);
    if (failed) {
      c.strokeStyle = '#d62728';
      c.lineWidth = 4;
      c.strokeRect(2, 2, this.width - 4, this.height - 4);
    }
  }

  private drawCuts(cuts: CutsEvent | undefined): void {
    if (cuts === undefined || cuts.cuts.length === 0) return;
    const c = this.ctx;
    const set = new Set(cuts.cuts.map(([a, b]) => `${a}>${b}`));
    c.save();
    c.setLineDash([6, 5]);
    c.lineWidth = 2;
    c.strokeStyle = 'rgba(214, 39, 40, 0.55)';
    for (const [a, b] of cuts.cuts) {
      if (set.has(`${b}>${a}`) && a > b) continue; // both ways: drawn once
      const p = this.place(a);
      const q = this.place(b);
      const both = set.has(`${b}>${a}`);
      const mx = both ? (p.x + q.x) / 2 : p.x + (q.x - p.x) * 0.6;
      const my = both ? (p.y + q.y) / 2 : p.y + (q.y - p.y) * 0.6;
      c.beginPath();
      c.moveTo(p.x, p.y);
      c.lineTo(q.x, q.y);
      c.stroke();
      // The cut itself: a bar across the link (one-way cuts nearer the receiver).
      const dx = q.x - p.x;
      const dy = q.y - p.y;
      const len = Math.hypot(dx, dy) || 1;
      c.save();
      c.setLineDash([]);
      c.lineWidth = 3;
      c.strokeStyle = '#d62728';
      c.beginPath();
      c.moveTo(mx - (dy / len) * 8, my + (dx / len) * 8);
      c.lineTo(mx + (dy / len) * 8, my - (dx / len) * 8);
      c.stroke();
      c.restore();
    }
    c.restore();
  }

  private endpoints(from: number, to: number): { x0: number; y0: number; x1: number; y1: number } {
    const p = this.place(from);
    const q = this.place(to);
    const dx = q.x - p.x;
    const dy = q.y - p.y;
    const len = Math.hypot(dx, dy) || 1;
    const ux = dx / len;
    const uy = dy / len;
    // Requests and replies on a link travel side by side, not on top of each other.
    const ox = -uy * 6;
    const oy = ux * 6;
    const r = 30;
    return { x0: p.x + ux * r + ox, y0: p.y + uy * r + oy, x1: q.x - ux * r + ox, y1: q.y - uy * r + oy };
  }

  /** Label boxes placed in this frame: a label that would cover another moves, or is left out. */
  private labels: { x: number; y: number; w: number; h: number }[] = [];

  /** A free spot for a w×h label near (x, y) (its top-left), or null. */
  private placeLabel(x: number, y: number, w: number, h: number): { x: number; y: number } | null {
    for (const dy of [-15, 3, -28, 16, -41, 29]) {
      const box = { x, y: y + dy, w, h };
      const clear = this.labels.every((b) => box.x >= b.x + b.w || b.x >= box.x + box.w || box.y >= b.y + b.h || b.y >= box.y + box.h);
      if (clear) {
        this.labels.push(box);
        return box;
      }
    }
    return null;
  }

  private drawFlight(f: Flight, t: number, crowd: number): void {
    const c = this.ctx;
    const e = this.endpoints(f.from, f.to);
    const p = Math.min(1, Math.max(0, (t - f.depart) / Math.max(0.001, f.arrive - f.depart)));
    const x = e.x0 + (e.x1 - e.x0) * p;
    const y = e.y0 + (e.y1 - e.y0) * p;
    const color = flightColor(f);
    c.strokeStyle = color;
    c.fillStyle = color;
    c.globalAlpha = 0.35;
    c.lineWidth = 1.5;
    if (f.fate === 'drop') c.setLineDash([4, 3]);
    c.beginPath();
    c.moveTo(e.x0, e.y0);
    c.lineTo(x, y);
    c.stroke();
    c.setLineDash([]);
    c.globalAlpha = 1;
    // The arrowhead.
    const ang = Math.atan2(e.y1 - e.y0, e.x1 - e.x0);
    c.beginPath();
    c.moveTo(x + Math.cos(ang) * 7, y + Math.sin(ang) * 7);
    c.lineTo(x + Math.cos(ang + 2.5) * 7, y + Math.sin(ang + 2.5) * 7);
    c.lineTo(x + Math.cos(ang - 2.5) * 7, y + Math.sin(ang - 2.5) * 7);
    c.closePath();
    c.fill();
    if (f.fate === 'drop' && p > 0.8) this.cross(x, y);
    // Words: every message when few are in flight; only the ones that matter when many are.
    const quiet = f.name === 'Heartbeat' || f.name === 'HeartbeatReply' || (f.name === 'AppendEntries' && f.entries === 0) || (f.name === 'AppendEntriesReply' && f.ok === true);
    if (crowd <= 10 || !quiet) {
      let label = f.words;
      if (f.dup) label += ' (dup)';
      if (f.fate === 'drop') label += f.reason === 'down' ? ' (lost: receiver down)' : f.reason === 'loss' ? ' (lost)' : ' (lost: link cut)';
      c.font = '10px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
      const w = c.measureText(label).width;
      const at = this.placeLabel(x + 6, y, w + 4, 12);
      if (at === null) return; // crowded: the arrow is there, its words are in the trace
      c.fillStyle = 'rgba(255,255,255,0.85)';
      c.fillRect(at.x, at.y, w + 4, 12);
      c.fillStyle = f.fate === 'drop' ? '#b00' : '#222';
      c.fillText(label, at.x + 2, at.y + 10);
    }
  }

  /** A clerk: a small box (its calls start and end at its edge, as a node's do). */
  private drawClerk(id: number): void {
    const c = this.ctx;
    const { x, y } = this.place(id);
    c.save();
    c.fillStyle = '#f3f0fa';
    c.strokeStyle = '#9467bd';
    c.lineWidth = 1.5;
    c.beginPath();
    c.roundRect(x - 18, y - 11, 36, 22, 5);
    c.fill();
    c.stroke();
    c.fillStyle = '#3d2a5c';
    c.font = 'bold 11px system-ui, sans-serif';
    c.textAlign = 'center';
    c.fillText(`C${-id}`, x, y + 4);
    c.restore();
  }

  private cross(x: number, y: number): void {
    const c = this.ctx;
    c.save();
    c.strokeStyle = '#d62728';
    c.lineWidth = 2.5;
    c.beginPath();
    c.moveTo(x - 6, y - 6);
    c.lineTo(x + 6, y + 6);
    c.moveTo(x + 6, y - 6);
    c.lineTo(x - 6, y + 6);
    c.stroke();
    c.restore();
  }

  private drawDrop(d: DropMark, t: number): void {
    const c = this.ctx;
    const e = this.endpoints(d.from, d.to);
    const age = (t - d.t) / DROP_MS;
    c.globalAlpha = Math.max(0.15, 1 - age);
    const x = e.x0 + (e.x1 - e.x0) * 0.22;
    const y = e.y0 + (e.y1 - e.y0) * 0.22;
    c.strokeStyle = '#d62728';
    c.setLineDash([3, 3]);
    c.beginPath();
    c.moveTo(e.x0, e.y0);
    c.lineTo(x, y);
    c.stroke();
    c.setLineDash([]);
    this.cross(x, y);
    c.globalAlpha = 1;
  }

  private drawNode(n: NodeFrame, s: ClusterScene, suspect: boolean): void {
    const c = this.ctx;
    const { x, y } = this.place(n.id);
    const up = n.status === 'up';
    const r = 28;
    c.save();
    if (n.status === 'retired') c.globalAlpha = 0.35;
    c.beginPath();
    c.arc(x, y, r, 0, 2 * Math.PI);
    c.fillStyle = !up ? (n.status === 'refused' ? '#f4c7c3' : '#d9d9d9') : (ROLE_FILL[n.role ?? 'follower'] ?? '#eee');
    c.fill();
    c.lineWidth = n.role === 'leader' ? 6 : 4;
    c.strokeStyle = up ? termColor(n.term ?? 0) : '#999';
    if (n.paused) c.setLineDash([5, 4]);
    c.stroke();
    c.setLineDash([]);
    if (suspect) {
      c.beginPath();
      c.arc(x, y, r + 7, 0, 2 * Math.PI);
      c.strokeStyle = '#d62728';
      c.lineWidth = 3;
      c.stroke();
    }
    c.fillStyle = '#111';
    c.textAlign = 'center';
    c.font = 'bold 14px system-ui, sans-serif';
    c.fillText(`${this.prefix}${n.id}`, x, y - 2);
    c.font = '11px system-ui, sans-serif';
    c.fillText(up ? `t${n.term}` : n.status, x, y + 12);
    // Above: the role and vote; below: what happened to it.
    const role = !up ? '' : n.role === 'leader' ? 'LEADER' : n.role === 'precandidate' ? 'pre-candidate' : (n.role ?? '');
    const learner = n.learners.includes(n.id) ? ' (learner)' : '';
    c.font = n.role === 'leader' ? 'bold 11px system-ui, sans-serif' : '11px system-ui, sans-serif';
    c.fillStyle = n.role === 'leader' ? '#8a6d00' : '#444';
    c.fillText(`${role}${learner}${n.removed ? ' (removed)' : ''}`, x, y - r - 14);
    if (up && n.vote !== null) {
      c.font = '10px system-ui, sans-serif';
      c.fillStyle = '#666';
      c.fillText(`voted ${this.prefix}${n.vote}`, x, y - r - 3);
    }
    const badges: string[] = [];
    if (n.paused) badges.push('PAUSED');
    for (const f of s.faults) {
      if (f.node !== n.id || s.t - f.t > FAULT_BADGE_MS) continue;
      if (f.fault === 'crash') badges.push('CRASH');
      else if (f.fault === 'power-loss') badges.push(`power fails in ${f.ops} disk ops`);
      else if (f.fault === 'clock-jump') badges.push(`clock ${f.ms! > 0 ? '+' : ''}${f.ms!.toFixed(0)} ms`);
      else if (f.fault === 'byte-flip') badges.push('disk: byte flipped');
      else if (f.fault === 'refused') badges.push('refuses corrupt log');
      else if (f.fault === 'restart') badges.push('restart');
    }
    let by = y + r + 14;
    c.font = 'bold 10px system-ui, sans-serif';
    for (const b of badges.slice(0, 3)) {
      const w = c.measureText(b).width + 8;
      c.fillStyle = b === 'restart' ? '#2f9e44' : b === 'PAUSED' ? '#6c757d' : '#d62728';
      c.fillRect(x - w / 2, by - 10, w, 13);
      c.fillStyle = '#fff';
      c.fillText(b, x, by);
      by += 15;
    }
    c.restore();
  }

  /** The log strips: one row per node, the same index window for all, so divergent logs line up. */
  private drawLogs(nodes: readonly NodeFrame[], suspects: Set<number>): void {
    const c = this.ctx;
    const x0 = this.width * 0.5 + 10;
    const w = this.width - x0 - 10;
    const labelW = 118;
    const maxLast = Math.max(0, ...nodes.map((n) => n.lastIndex ?? 0));
    const first = Math.max(1, maxLast - LOG_WINDOW + 1);
    const cell = Math.max(8, Math.min(26, (w - labelW) / LOG_WINDOW));
    const rowH = Math.max(22, Math.min(40, (this.height - 40) / Math.max(1, this.ids.length)));
    c.save();
    c.font = '10px system-ui, sans-serif';
    c.fillStyle = '#888';
    c.textAlign = 'center';
    for (let i = first; i < first + LOG_WINDOW; i++) if (i % 5 === 0) c.fillText(String(i), x0 + labelW + (i - first + 0.5) * cell, 16);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    this.ids.forEach((id, row) => {
      const n = byId.get(id);
      const y = 26 + row * rowH;
      c.textAlign = 'left';
      c.font = 'bold 12px system-ui, sans-serif';
      c.fillStyle = suspects.has(id) ? '#d62728' : '#222';
      c.fillText(`${this.prefix}${id}`, x0, y + 14);
      if (n === undefined) return;
      c.font = '10px system-ui, sans-serif';
      c.fillStyle = '#555';
      const info = n.status !== 'up' ? n.status : `t${n.term} c${n.commit} a${n.applied}`;
      c.fillText(info, x0 + 24, y + 14);
      if (n.status !== 'up' || n.lastIndex === null) return;
      for (let i = first; i < first + LOG_WINDOW && i <= n.lastIndex; i++) {
        const cx = x0 + labelW + (i - first) * cell;
        let term: number | undefined;
        if (i <= (n.snapIndex ?? 0)) term = undefined;
        else if (i >= n.tailFirst && i - n.tailFirst < n.tailTerms.length) term = n.tailTerms[i - n.tailFirst];
        c.fillStyle = term === undefined ? '#e6e6e6' : termColor(term);
        c.globalAlpha = i <= (n.commit ?? 0) ? 1 : 0.45;
        c.fillRect(cx + 1, y + 2, cell - 2, rowH - 10);
        c.globalAlpha = 1;
        if (cell >= 14 && term !== undefined) {
          c.fillStyle = '#fff';
          c.textAlign = 'center';
          c.font = 'bold 9px system-ui, sans-serif';
          c.fillText(String(term), cx + cell / 2, y + rowH / 2 + 1);
        }
      }
      // Commit: a bar under the committed entries; applied: a tick.
      const commitX = x0 + labelW + (Math.min(n.commit ?? 0, first + LOG_WINDOW - 1) - first + 1) * cell;
      if ((n.commit ?? 0) >= first) {
        c.fillStyle = '#222';
        c.fillRect(x0 + labelW, y + rowH - 7, commitX - x0 - labelW, 2);
      }
      const ap = n.applied ?? 0;
      if (ap >= first) {
        const ax = x0 + labelW + (Math.min(ap, first + LOG_WINDOW - 1) - first + 1) * cell;
        c.fillStyle = '#2f9e44';
        c.fillRect(ax - 2, y + rowH - 9, 3, 6);
      }
    });
    c.restore();
  }
}

