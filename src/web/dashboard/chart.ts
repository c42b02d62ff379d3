/** A small line chart drawn by hand on a canvas: the last minute of a few series. */

export interface Series {
  readonly name: string;
  readonly color: string;
  /** [time (ms, performance.now()), value], oldest first. */
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
}

/** A round number at or above `v`, for the y axis: 1, 2, 5 × 10^k. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k`;
  if (v >= 10 || v === 0) return v.toFixed(0);
  if (v >= 1) return v.toFixed(1);
  return v.toPrecision(2);
}

/** Draws `series` over the `windowMs` before `now` into `canvas`, with `unit` on the y labels. */
export function drawChart(canvas: HTMLCanvasElement, series: readonly Series[], now: number, windowMs: number, unit: string): void {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (w === 0 || h === 0) return;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext('2d');
  if (g === null) return;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const left = 44;
  const right = 8;
  const top = 8;
  const bottom = 18;
  const pw = w - left - right;
  const ph = h - top - bottom;
  const from = now - windowMs;
  let max = 0;
  for (const s of series) for (const [t, v] of s.points) if (t >= from && v > max) max = v;
  const ymax = niceCeil(max);
  const x = (t: number): number => left + ((t - from) / windowMs) * pw;
  const y = (v: number): number => top + ph - (v / ymax) * ph;
  g.font = '10px system-ui, sans-serif';
  g.fillStyle = '#6b7385';
  g.strokeStyle = '#eceef2';
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  // 5 steps of 1 or 2 × 10^k for a top of 5 or 10 × 10^k (and 1 × 10^k), 4 steps of 0.5 × 10^k for 2 × 10^k.
  const steps = Math.round(ymax / 10 ** Math.floor(Math.log10(ymax))) === 2 ? 4 : 5;
  for (let i = 0; i <= steps; i++) {
    const v = (ymax * i) / steps;
    const yy = Math.round(y(v)) + 0.5;
    g.beginPath();
    g.moveTo(left, yy);
    g.lineTo(left + pw, yy);
    g.stroke();
    g.fillText(`${fmt(v)}${i === steps ? ` ${unit}` : ''}`, left - 4, yy);
  }
  g.textAlign = 'center';
  g.textBaseline = 'top';
  for (let s = 0; s <= windowMs / 1000; s += 15) {
    const xx = x(now - s * 1000);
    g.fillText(s === 0 ? 'now' : `-${s}s`, xx, top + ph + 4);
  }
  g.save();
  g.beginPath();
  g.rect(left, top - 2, pw, ph + 4);
  g.clip();
  for (const s of series) {
    g.strokeStyle = s.color;
    g.lineWidth = 1.8;
    g.setLineDash(s.dashed === true ? [4, 3] : []);
    g.beginPath();
    let started = false;
    for (const [t, v] of s.points) {
      if (t < from - 2000) continue;
      if (!started) g.moveTo(x(t), y(v));
      else g.lineTo(x(t), y(v));
      started = true;
    }
    g.stroke();
  }
  g.restore();
}
