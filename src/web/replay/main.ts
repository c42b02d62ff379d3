import type { ReplayHandle } from './handle.js';
import { Recording } from './recording.js';
import { commandOf, readRunConfig } from './run-config.js';
import { startRun, type RunOutcome } from './runs.js';
import { TimelineView } from './timeline.js';
import { ClusterView } from './view.js';

declare global {
  interface Window {
    tsraftReplay: ReplayHandle;
  }
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

async function main(): Promise<void> {
  const config = readRunConfig(document, location.search);
  const handle: ReplayHandle = {
    state: 'running',
    error: undefined,
    config,
    traceHash: undefined,
    ok: undefined,
    failure: undefined,
    duration: 0,
    loadMs: 0,
    runMs: 0,
    messages: 0,
    fpsSamples: [],
    t: () => 0,
    seek: () => {},
    play: () => {},
    pause: () => {},
    playing: () => false,
    lastFlights: 0,
    lastCuts: 0,
    lastNodes: [],
    lastClerks: 0,
    marks: [],
  };
  window.tsraftReplay = handle;
  const lab = config.kind === 'lab';
  document.title = lab ? `tsraft replay: ${config.title}, seed ${config.seed}` : `tsraft replay: seed ${config.seed}`;
  $('command').textContent = commandOf(config);
  $('status').textContent = lab ? 'running the lab test in this page with the real code...' : 'running the seed in this page with the real code...';

  const rec = new Recording();
  // A lab test's servers are S0, S1, ... as the tester names them.
  const view = new ClusterView($<HTMLCanvasElement>('cluster'), lab ? 'S' : 'n');
  let t = 0;
  let speed = 1;
  let playing = false;
  let dirty = true;
  const seek = (x: number): void => {
    t = Math.max(0, Math.min(rec.duration, x));
    dirty = true;
  };
  const timeline = new TimelineView($<HTMLCanvasElement>('timeline'), rec, seek);

  // The run goes on in this page while it is drawn: it is far ahead of real-time playing, and
  // what is recorded can be watched at once. The trace hash shows when it ends.
  const t0 = performance.now();
  const run = startRun(config, (e) => rec.add(e));
  let lastRepaint = 0;
  const finished = (result: RunOutcome): void => {
    handle.runMs = performance.now() - t0;
    handle.traceHash = result.traceHash;
    handle.ok = result.ok;
    handle.duration = rec.duration;
    handle.messages = rec.sent;
    handle.failure = result.failure;
    handle.marks = rec.marks;
    $('summary').textContent = result.summary;
    $('status').textContent = `re-ran here in ${(handle.runMs / 1000).toFixed(2)} s: ${(rec.duration / 1000).toFixed(1)} s simulated, ${rec.sent} messages, ${rec.traceLines.length} trace lines; ${result.ok ? 'passed' : 'FAILED'}`;
    const hashEl = $('hash');
    hashEl.textContent = `trace hash ${result.traceHash}`;
    if (config.cliHash !== undefined) {
      const same = config.cliHash === result.traceHash;
      hashEl.classList.add(same ? 'same' : 'differs');
      hashEl.title = same ? 'the same trace hash the CLI printed: this replay is the run' : `the CLI printed ${config.cliHash}: this page ran differently`;
      hashEl.textContent += same ? '  (= the CLI)' : `  (the CLI printed ${config.cliHash.slice(0, 16)}...)`;
    }
    timeline.setBadOps(rec.failure?.history);
    showFailure();
    dirty = true;
    handle.state = 'ready';
  };
  run.then(finished, (e: unknown) => {
    handle.state = 'error';
    handle.error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    $('status').textContent = `the run failed: ${handle.error}`;
  });

  // The failure: a banner, the timeline mark, red rings on the nodes it names, and a jump to it.
  const showFailure = (): void => {
    const failure = rec.failure;
    if (failure === null) return;
    const banner = $('failure');
    banner.hidden = false;
    const head = document.createElement('div');
    head.innerHTML = `<b>FAILED ${escapeHtml(failure.check)}</b> at ${(failure.t / 1000).toFixed(3)} s: ${escapeHtml(failure.message.split('\n')[0]!)} `;
    const jump = document.createElement('button');
    jump.textContent = 'jump to it';
    const target = failure.history !== undefined ? (failure.history.stuck?.call ?? failure.t) : Math.max(0, failure.t - 300);
    jump.onclick = () => seek(target);
    head.append(jump);
    banner.append(head);
    if (failure.history !== undefined) {
      const h = failure.history;
      const list = document.createElement('div');
      list.className = 'history';
      list.innerHTML =
        `<div>The smallest non-linearizable part of the history (key <code>${escapeHtml(h.key)}</code>), red on the client lanes:</div>` +
        h.ops.map((o) => `<div><code>${escapeHtml(o.client)} ${escapeHtml(o.words)}</code> called ${(o.call / 1000).toFixed(3)} s, returned ${o.return === null ? 'never' : `${(o.return / 1000).toFixed(3)} s`}</div>`).join('') +
        (h.stuck !== null ? `<div><b>no order places <code>${escapeHtml(h.stuck.client)} ${escapeHtml(h.stuck.words)}</code></b> (called ${(h.stuck.call / 1000).toFixed(3)} s)</div>` : '');
      banner.append(list);
    }
    setPlaying(false);
    seek(target);
  };

  // Controls.
  const playBtn = $<HTMLButtonElement>('play');
  const speedSel = $<HTMLSelectElement>('speed');
  function setPlaying(p: boolean): void {
    playing = p;
    if (playing && t >= rec.duration && handle.state !== 'running') t = 0;
    playBtn.textContent = playing ? 'pause' : 'play';
    last = performance.now();
  }
  playBtn.onclick = () => setPlaying(!playing);
  speedSel.onchange = () => (speed = Number(speedSel.value));
  $('back').onclick = () => {
    setPlaying(false);
    seek(rec.prevEventTime(t));
  };
  $('step').onclick = () => {
    setPlaying(false);
    seek(rec.nextEventTime(t));
  };
  $('start').onclick = () => seek(0);
  document.addEventListener('keydown', (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
    if (ev.key === ' ') {
      ev.preventDefault();
      setPlaying(!playing);
    } else if (ev.key === 'ArrowRight') {
      setPlaying(false);
      seek(rec.nextEventTime(t));
    } else if (ev.key === 'ArrowLeft') {
      setPlaying(false);
      seek(rec.prevEventTime(t));
    }
  });
  const jumpInput = $<HTMLInputElement>('jump');
  jumpInput.onchange = () => {
    const v = Number(jumpInput.value);
    if (Number.isFinite(v)) seek(v * 1000);
  };
  window.addEventListener('resize', () => {
    view.resize();
    timeline.resize();
    dirty = true;
  });

  // The text trace beside the drawing: the lines around the current time.
  const before = $('trace-before');
  const current = $('trace-current');
  const after = $('trace-after');
  let shownIndex = -2;
  let traceDrawnAt = 0;
  const fmt = (i: number): string => `${rec.traceTimes[i]!.toFixed(3)} ${rec.traceLines[i]}`;
  const showTrace = (now: number): void => {
    const i = rec.traceIndexAt(t);
    if (i === shownIndex || (playing && now - traceDrawnAt < 100)) return;
    shownIndex = i;
    traceDrawnAt = now;
    const lines: string[] = [];
    for (let k = Math.max(0, i - 30); k < i; k++) lines.push(fmt(k));
    before.textContent = lines.join('\n');
    current.textContent = i >= 0 ? fmt(i) : '(start)';
    const next: string[] = [];
    for (let k = i + 1; k < Math.min(rec.traceLines.length, i + 30); k++) next.push(fmt(k));
    after.textContent = next.join('\n');
  };

  const clock = $('clock');
  let clockAt = 0;
  let last = performance.now();
  let frames = 0;
  let sampleStart = performance.now();
  const frame = (now: number): void => {
    if (playing) {
      t = Math.min(rec.duration, t + (now - last) * speed);
      if (t >= rec.duration && handle.state !== 'running') setPlaying(false);
      dirty = true;
      frames++;
      if (now - sampleStart >= 1000) {
        handle.fpsSamples.push((frames * 1000) / (now - sampleStart));
        frames = 0;
        sampleStart = now;
      }
    } else {
      frames = 0;
      sampleStart = now;
    }
    last = now;
    if (handle.state === 'running' && now - lastRepaint > 300) {
      lastRepaint = now;
      timeline.repaint();
      dirty = true;
    }
    if (dirty) {
      dirty = false;
      const flights = rec.flightsAt(t);
      handle.lastFlights = flights.length;
      const cuts = rec.cutsAt(t);
      const nodes = rec.framesAt(t);
      handle.lastCuts = cuts?.cuts.length ?? 0;
      handle.lastNodes = nodes;
      handle.lastClerks = rec.clerkIds.length;
      view.draw({ t, nodes, flights, drops: rec.dropsNear(t, 250), cuts, faults: rec.faultsNear(t, 1500), failure: rec.failure, clerks: rec.clerkIds });
      timeline.draw(t);
      // Text changes cost a layout: at most ten a second while playing.
      if (!playing || now - clockAt >= 100) {
        clockAt = now;
        clock.textContent = `${(t / 1000).toFixed(3)} s / ${(rec.duration / 1000).toFixed(3)} s`;
      }
      showTrace(now);
    }
    requestAnimationFrame(frame);
  };
  handle.t = () => t;
  handle.seek = seek;
  handle.play = (s?: number) => {
    if (s !== undefined) {
      speed = s;
      speedSel.value = String(s);
    }
    handle.fpsSamples = [];
    setPlaying(true);
  };
  handle.pause = () => setPlaying(false);
  handle.playing = () => playing;
  requestAnimationFrame((now) => {
    frame(now);
    // Loaded: the page draws the run and its controls answer (the run itself may still be going on).
    handle.loadMs = performance.now();
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

void main().catch((e: unknown) => {
  window.tsraftReplay.state = 'error';
  window.tsraftReplay.error = e instanceof Error ? (e.stack ?? e.message) : String(e);
});
