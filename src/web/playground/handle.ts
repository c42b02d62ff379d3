// The playground page's test API (window.tsraftPlayground), with no DOM types, so Node tests can name it too.
import type { ClientOpView, PlaygroundAction, PlaygroundNodeView } from '../../sim/playground.js';

/** What browser tests (and curious users, from the console) can call. */
export interface PlaygroundPageApi {
  /** True once the cluster runs (after replaying a link, if any). */
  ready(): boolean;
  now(): number;
  leader(): number | null;
  nodes(): PlaygroundNodeView[];
  clientOps(): readonly ClientOpView[];
  /** Queues an action for the next frame; resolves once applied (rejects with the reason it was refused). */
  apply(action: PlaygroundAction): Promise<void>;
  /** The session link's hash part (what Copy link puts after `#`). */
  link(): string;
  fingerprint(): string;
  failure(): string | null;
  setSpeed(x: number): void;
  setPaused(paused: boolean): void;
  /** Frames drawn per second over the last second. */
  fps(): number;
  /** After opening a session link: the run's fingerprint and time when the replay ended, before going on live. */
  replayed(): { fingerprint: string; now: number } | null;
}
