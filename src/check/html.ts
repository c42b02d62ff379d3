import { describeOp } from './history.js';
import type { CheckResult, PartitionResult } from './linearizability.js';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function clip(s: string, n = 60): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Replays a linearization, returning the state after each step. */
function states(p: PartitionResult): (string | null)[] {
  let st: string | null = null;
  return p.order.map((i) => {
    const op = p.ops[i]!;
    if (op.op === 'put') st = op.value!;
    else if (op.op === 'append') st = (st ?? '') + op.value!;
    else if (op.op === 'delete') st = null;
    else if (op.op === 'cas' && st === (op.expected ?? null)) st = op.value!;
    return st;
  });
}

function timeline(p: PartitionResult): string {
  const ops = p.ops;
  const clients = [...new Set(ops.map((o) => String(o.clientId)))].sort();
  const lane = new Map(clients.map((c, i) => [c, i]));
  const t0 = Math.min(...ops.map((o) => o.call));
  const tEnd = Math.max(...ops.map((o) => (o.status === 'ok' ? o.return! : o.call)));
  const span = Math.max(tEnd - t0, 1);
  const W = 1100;
  const laneH = 26;
  const left = 110;
  const x = (t: number): number => left + ((t - t0) / span) * (W - left - 20);
  const rank = new Map(p.order.map((opIndex, k) => [opIndex, k + 1]));
  const bars = ops.map((o, i) => {
    const y = 20 + lane.get(String(o.clientId))! * laneH;
    const x1 = x(o.call);
    const x2 = o.status === 'ok' ? x(o.return!) : W - 20;
    const inPrefix = rank.has(i);
    const color = i === p.stuck ? '#e05252' : inPrefix ? (p.verdict === 'ok' ? '#6aa84f' : '#93c47d') : '#b7b7b7';
    const label = `${inPrefix ? `#${rank.get(i)} ` : ''}${describeOp(o)}`;
    return `<g><title>${esc(`${label}\ncall ${o.call}, return ${o.status === 'ok' ? o.return : 'unknown'}`)}</title><rect x="${x1.toFixed(1)}" y="${y}" width="${Math.max(2, x2 - x1).toFixed(1)}" height="${laneH - 6}" rx="3" fill="${color}"${o.status === 'unknown' ? ' stroke="#666" stroke-dasharray="4 2"' : ''}/><text x="${(x1 + 3).toFixed(1)}" y="${y + 14}" font-size="10">${esc(clip(label, Math.max(4, Math.floor((x2 - x1) / 6))))}</text></g>`;
  });
  const labels = clients.map((c, i) => `<text x="4" y="${34 + i * laneH}" font-size="11">client ${esc(clip(c, 14))}</text>`);
  const H = 30 + clients.length * laneH;
  return `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg" font-family="monospace">${labels.join('')}${bars.join('')}</svg>`;
}

function partitionSection(p: PartitionResult): string {
  const st = states(p);
  const rows = p.order.map((i, k) => `<tr><td>${k + 1}</td><td>${esc(String(p.ops[i]!.clientId))}</td><td>${esc(describeOp(p.ops[i]!))}</td><td>${esc(clip(st[k] === null ? 'null (absent)' : JSON.stringify(st[k]), 100))}</td></tr>`);
  const stuck = p.stuck !== undefined ? `<p class="bad">No linearization of this prefix can place <code>${esc(describeOp(p.ops[p.stuck]!))}</code> (client ${esc(String(p.ops[p.stuck]!.clientId))}, call ${p.ops[p.stuck]!.call}, return ${String(p.ops[p.stuck]!.return)}).</p>` : '';
  const title = p.verdict === 'illegal' ? 'longest linearizable prefix' : p.verdict === 'ok' ? 'linearization' : 'no result (time budget exhausted)';
  return `<section><h2>key <code>${esc(JSON.stringify(p.key))}</code>: ${p.verdict === 'ok' ? 'linearizable' : p.verdict === 'illegal' ? 'not linearizable' : 'unknown'} (${p.ops.length} operations)</h2>${stuck}
<div class="tl">${timeline(p)}</div>
<p class="legend"><span style="background:#93c47d">in the ${title}</span> <span style="background:#e05252">cannot be placed</span> <span style="background:#b7b7b7">not placed</span> dashed: outcome unknown</p>
<details${p.verdict === 'illegal' ? ' open' : ''}><summary>${title}: ${p.order.length} operations</summary><table><tr><th>#</th><th>client</th><th>operation</th><th>value after</th></tr>${rows.join('')}</table></details></section>`;
}

/**
 * A self-contained HTML report: for each key that is not linearizable (or
 * could not be decided), its history as a timeline per client, and the
 * longest linearizable prefix with the value after each step.
 */
export function renderHtml(r: CheckResult, title = 'tsraft linearizability check'): string {
  const shown = r.partitions.filter((p) => p.verdict !== 'ok');
  const okCount = r.partitions.length - shown.length;
  const verdict = r.verdict === 'ok' ? 'linearizable' : r.verdict === 'illegal' ? 'NOT linearizable' : 'unknown (time budget exhausted)';
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:20px;color:#222}code{background:#f3f3f3;padding:1px 3px}.bad{color:#b00}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}.tl{overflow-x:auto;border:1px solid #eee;margin:8px 0}.legend span{padding:1px 6px;margin-right:8px;border-radius:3px}section{margin-bottom:28px}</style></head>
<body><h1>${esc(title)}: ${esc(verdict)}</h1>
<p>${r.partitions.length} key(s) checked in ${r.elapsedMs.toFixed(0)} ms; ${okCount} linearizable${shown.length > 0 ? `, ${shown.length} shown below` : ''}.</p>
${shown.map(partitionSection).join('\n')}
</body></html>
`;
}
