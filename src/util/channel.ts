/**
 * A Go-style channel between async tasks: `send` resolves once the value is
 * taken (or buffered, if `capacity` > 0), so a slow receiver pushes back on
 * the sender. Receiving from a closed, drained channel yields `done`.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly buffer: T[] = [];
  private readonly senders: { value: T; resolve: (delivered: boolean) => void }[] = [];
  private readonly receivers: ((r: IteratorResult<T>) => void)[] = [];
  private closedFlag = false;

  constructor(readonly capacity = 0) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Values buffered plus senders waiting. */
  get length(): number {
    return this.buffer.length + this.senders.length;
  }

  /** Resolves true when the value is delivered or buffered; false if the channel closed first. */
  send(value: T): Promise<boolean> {
    if (this.closedFlag) return Promise.resolve(false);
    const receiver = this.receivers.shift();
    if (receiver !== undefined) {
      receiver({ value, done: false });
      return Promise.resolve(true);
    }
    if (this.buffer.length < this.capacity) {
      this.buffer.push(value);
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.senders.push({ value, resolve }));
  }

  /** The next value, or `done` once closed and drained. */
  receive(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) {
      const value = this.buffer.shift()!;
      const s = this.senders.shift();
      if (s !== undefined) {
        this.buffer.push(s.value);
        s.resolve(true);
      }
      return Promise.resolve({ value, done: false });
    }
    const s = this.senders.shift();
    if (s !== undefined) {
      s.resolve(true);
      return Promise.resolve({ value: s.value, done: false });
    }
    if (this.closedFlag) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.receivers.push(resolve));
  }

  /** Closes the channel: waiting receivers get `done`, waiting senders get false. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const r of this.receivers.splice(0)) r({ value: undefined, done: true });
    for (const s of this.senders.splice(0)) s.resolve(false);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.receive() };
  }
}
