import type { HistoryPart } from '../../sim/observe.js';
import type { ClientOp, Recording, TimelineMark } from './recording.js';

const MARK_COLORS: Record<TimelineMark['kind'], string> = {
  fault: '#d62728',
  leader: '#c9a400',
  membership: '#9467bd',
  partition: '#ff7f0e',
  failure: '#d62728',
};

const OP_COLORS: Record<ClientOp['op'], string> = { get: '#2f9e44', put: '#1f5fbf', append: '#4e79a7', delete: '#8c564b', cas: '#b07aa1' };

/**
 * The timeline under the cluster: the time axis with marks (faults,
 * partitions, leader changes, membership changes, the failure), a lane per
 * client with its operations from call to return, and the playhead. Click or
 * drag anywhere to jump. The static part is drawn once; a frame only redraws
 * the playhead.
 */
export class TimelineView {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly background: HTMLCanvasElement;
  private width = 0;
  private height = 0;
  private dragging = false;
  private bad = new Set<string>();

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly rec: Recording,
    private readonly onSeek: (t: number) => void,
  ) {
    this.ctx = canvas.getContext('2d')!;
    this.background = document.createElement('canvas');
    const seek = (ev: PointerEvent): void => {
      const r = this.canvas.getBoundingClientRect();
      this.onSeek(Math.max(0, Math.min(1, (ev.clientX - r.left - 60) / (r.width - 70))) * this.rec.duration);
    };
    canvas.addEventListener('pointerdown', (ev) => {
      this.dragging = true;
      canvas.setPointerCapture(ev.pointerId);
      seek(ev);
    });
    canvas.addEventListener('pointermove', (ev) => {
      if (this.dragging) seek(ev);
    });
    canvas.addEventListener('pointerup', () => (this.dragging = false));
    this.resize();
  }

  /** Marks the operations of a non-linearizable part of the history in red. */
  setBadOps(part: HistoryPart | undefined): void {
    this.bad = new Set((part?.ops ?? []).concat(part?.stuck ? [part.stuck] : []).map((o) => `${o.client}@${o.call}`));
    this.repaint();
  }

  /** Redraws the static part (the recording grew, or the marks changed). */
  repaint(): void {
    this.paintBackground(this.background.getContext('2d')!);
  }

  resize(): void {
    const dpr = window.devicePixelRatio || 1;
    const r = this.canvas.getBoundingClientRect();
    this.width = Math.max(300, r.width);
    this.height = Math.max(60, r.height);
    for (const cv of [this.canvas, this.background]) {
      cv.width = Math.round(this.width * dpr);
      cv.height = Math.round(this.height * dpr);
    }
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const b = this.background.getContext('2d')!;
    b.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.paintBackground(b);
  }

  private x(t: number): number {
    return 60 + (t / Math.max(1, this.rec.duration)) * (this.width - 70);
  }

  private paintBackground(c: CanvasRenderingContext2D): void {
    const rec = this.rec;
    c.clearRect(0, 0, this.width, this.height);
    c.fillStyle = '#fafafa';
    c.fillRect(0, 0, this.width, this.height);
    c.font = '10px system-ui, sans-serif';
    c.fillStyle = '#666';
    c.textAlign = 'center';
    const step = niceStep(rec.duration / 10);
    for (let t = 0; t <= rec.duration; t += step) {
      c.fillText(`${(t / 1000).toFixed(step < 1000 ? 1 : 0)} s`, this.x(t), 11);
      c.fillStyle = '#e4e4e4';
      c.fillRect(this.x(t), 14, 1, this.height - 14);
      c.fillStyle = '#666';
    }
    c.textAlign = 'left';
    c.fillText('events', 4, 28);
    for (const m of rec.marks) {
      c.fillStyle = MARK_COLORS[m.kind];
      const h = m.kind === 'failure' ? this.height - 16 : 12;
      c.fillRect(this.x(m.t) - (m.kind === 'failure' ? 1.5 : 0.5), 16, m.kind === 'failure' ? 3 : 1.5, h);
    }
    const lanes = rec.clients;
    const laneH = Math.max(6, Math.min(14, (this.height - 36) / Math.max(1, lanes.length)));
    lanes.forEach((client, i) => {
      const y = 34 + i * laneH;
      c.fillStyle = '#666';
      c.fillText(client, 4, y + laneH - 3);
    });
    for (const op of rec.clientOps) {
      const i = lanes.indexOf(op.client);
      const y = 34 + i * laneH;
      const x0 = this.x(op.call);
      const x1 = Math.max(x0 + 2, this.x(op.ret ?? rec.duration));
      const bad = this.bad.has(`${op.client}@${op.call}`);
      c.fillStyle = bad ? '#d62728' : OP_COLORS[op.op];
      c.globalAlpha = op.ret === null ? 0.35 : 0.85;
      c.fillRect(x0, y + 1, x1 - x0, laneH - 3);
      c.globalAlpha = 1;
      if (bad) {
        c.strokeStyle = '#000';
        c.strokeRect(x0 - 1, y, x1 - x0 + 2, laneH - 1);
      }
    }
  }

  /** Redraws with the playhead at `t`. */
  draw(t: number): void {
    const c = this.ctx;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.drawImage(this.background, 0, 0);
    const dpr = window.devicePixelRatio || 1;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    const x = this.x(t);
    c.fillStyle = 'rgba(31, 95, 191, 0.12)';
    c.fillRect(60, 14, x - 60, this.height - 14);
    c.fillStyle = '#1f5fbf';
    c.fillRect(x - 1, 14, 2, this.height - 14);
  }
}

function niceStep(x: number): number {
  for (const s of [100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000]) if (s >= x) return s;
  return 120_000;
}
