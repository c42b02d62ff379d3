// The replay page's test API (window.tsraftReplay), with no DOM types, so Node tests can name it too.
import type { NodeFrame } from '../../sim/observe.js';
import type { TimelineMark } from './recording.js';
import type { RunConfig } from './run-config.js';

/** What the page exposes for tests and for anyone poking at it from the console. */
export interface ReplayHandle {
  state: 'running' | 'ready' | 'error';
  error: string | undefined;
  config: RunConfig;
  traceHash: string | undefined;
  ok: boolean | undefined;
  failure: { check: string; message: string; t: number } | undefined;
  /** Virtual ms the run lasted. */
  duration: number;
  /** From navigation start to the first frame drawn (ms). */
  loadMs: number;
  /** Real ms the simulation took in this page. */
  runMs: number;
  messages: number;
  /** Frames per second, one sample per second of playing. */
  fpsSamples: number[];
  t(): number;
  seek(t: number): void;
  play(speed?: number): void;
  pause(): void;
  playing(): boolean;
  /** Flights drawn in the last frame. */
  lastFlights: number;
  /** Cut links drawn in the last frame. */
  lastCuts: number;
  /** The nodes drawn in the last frame. */
  lastNodes: readonly NodeFrame[];
  /** Clerks drawn in the last frame (a lab test's kvraft clients). */
  lastClerks: number;
  /** The timeline's marks (faults, partitions, leaders, the failure) once the run has ended. */
  marks: readonly TimelineMark[];
}
