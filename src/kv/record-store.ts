/**
 * The key-value store's records kept off the JavaScript heap.
 *
 * Why: a record held as a JavaScript object with its value as a string costs
 * the garbage collector two objects per key besides the key (the record and
 * the value), and every overwrite an old-to-new pointer for the scavenger to
 * follow. At a million keys the leader's
 * heap held ~450 MiB of them: scavenges of 6–28 ms every 60 ms and incremental
 * marking of 125–240 ms per cycle kept its event-loop delay p99 at ~21 ms under
 * load (`BENCH_KEYS=1000000 npm run bench:stall` with `--trace-gc`). Here a
 * record is a small integer: its revisions and lease live in typed arrays, its
 * value's UTF-8 bytes in a slot of a size class (pages of `Buffer` memory,
 * which the collector never scans), so the key tree and index hold only
 * integers and the heap holds only the keys.
 *
 * A write updates its key's record in place, except while a snapshot is
 * being written (over many turns, from a copy-on-write clone of the tree):
 * the snapshot {@link pin}s the store, writes then add a record and release
 * the one they replace, and released records are kept until the last pin is
 * let go, so the snapshot reads every record as it was when it started.
 */

/** Records per metadata chunk: chunks, not one array, so growing never copies the whole table. */
const CHUNK_BITS = 10;
const CHUNK = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK - 1;
/** Bytes of one value page (at least 16 slots of the largest class). */
const PAGE_BYTES = 16 * 1024;
/** Values longer than this are kept as strings on the heap (rare and large: the collector copes). */
export const MAX_SLOT_BYTES = 16 * 1024;
/** u32 metadata: the value's class (0: empty value, LARGE: a heap string), its slot, its length in bytes. */
const CLASS_EMPTY = 0;
const CLASS_LARGE = 0xffff;

/** Slot sizes: every 16 bytes up to 256, then about 1.25× apart (so at most a fifth of a slot is unused) up to {@link MAX_SLOT_BYTES}. */
const SLOT_SIZES: readonly number[] = (() => {
  const sizes: number[] = [];
  for (let s = 16; s <= 256; s += 16) sizes.push(s);
  for (let s = 256; s < MAX_SLOT_BYTES; ) {
    s = Math.min(MAX_SLOT_BYTES, Math.ceil((s * 1.25) / 16) * 16);
    sizes.push(s);
  }
  return sizes;
})();

/** The class (1-based index into SLOT_SIZES) for a value of `n` bytes, 0 < n <= MAX_SLOT_BYTES. */
function classFor(n: number): number {
  if (n <= 256) return (n + 15) >>> 4;
  let c = 17;
  while (SLOT_SIZES[c - 1]! < n) c++;
  return c;
}

/** A stack of non-negative integers in a growing Int32Array. */
class IntStack {
  private a = new Int32Array(64);
  length = 0;

  push(x: number): void {
    if (this.length === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.length++] = x;
  }

  pop(): number {
    return this.a[--this.length]!;
  }
}

/** The slots of one size: pages of `perPage` slots, and the free slots. */
class SlotClass {
  readonly pages: Buffer[] = [];
  readonly perPage: number;
  private readonly free = new IntStack();
  private next = 0;

  constructor(readonly size: number) {
    this.perPage = Math.max(16, Math.floor(PAGE_BYTES / size));
  }

  take(): number {
    if (this.free.length > 0) return this.free.pop();
    const slot = this.next++;
    // Unpooled: a pool slice would keep a shared 8 KiB pool alive per page.
    if (slot >= this.pages.length * this.perPage) this.pages.push(Buffer.allocUnsafeSlow(this.perPage * this.size));
    return slot;
  }

  give(slot: number): void {
    this.free.push(slot);
  }

  get bytesReserved(): number {
    return this.pages.length * this.perPage * this.size;
  }
}

/** Figures about a {@link RecordStore}'s memory. */
export interface RecordStoreStats {
  /** Records held, including those kept for a pinned snapshot. */
  readonly records: number;
  /** Bytes of value pages allocated (outside the JavaScript heap). */
  readonly pageBytes: number;
}

export class RecordStore {
  /** Per record: createRevision, modRevision, lease (0: none). */
  private readonly f64: Float64Array[] = [];
  /** Per record: value class, slot, length in bytes. */
  private readonly u32: Uint32Array[] = [];
  private readonly classes: SlotClass[] = SLOT_SIZES.map((s) => new SlotClass(s));
  /** Values too long for a slot, by record. */
  private readonly large = new Map<number, string>();
  private readonly freeIds = new IntStack();
  private nextId = 0;
  private live = 0;
  private pins = 0;
  /** Records released while pinned, freed when the last pin goes. */
  private readonly deferred = new IntStack();

  /** Adds a record whose value is `value`, `valueBytes` long in UTF-8; returns its id. */
  add(value: string, valueBytes: number, createRevision: number, modRevision: number, lease: number | undefined): number {
    const id = this.newId(createRevision, modRevision, lease);
    this.putValue(id, value, valueBytes);
    return id;
  }

  /**
   * Gives record `id` a new value, modRevision and lease in place (its
   * createRevision stays). Only while nothing is pinned: a snapshot being
   * written reads records as they were, so then a write must add a record.
   */
  update(id: number, value: string, valueBytes: number, modRevision: number, lease: number | undefined): void {
    if (this.pins > 0) throw new Error('record store: a record was updated in place while a snapshot pinned the store');
    const f = this.f64[id >>> CHUNK_BITS]!;
    const i = (id & CHUNK_MASK) * 3;
    f[i + 1] = modRevision;
    f[i + 2] = lease ?? 0;
    const u = this.u32[id >>> CHUNK_BITS]!;
    const c = u[i]!;
    // The same slot does when the class is the same.
    if (c !== CLASS_EMPTY && c !== CLASS_LARGE && valueBytes > 0 && valueBytes <= MAX_SLOT_BYTES && classFor(valueBytes) === c) {
      this.writeValue(this.locate(c, u[i + 1]!), value, valueBytes);
      u[i + 2] = valueBytes;
      return;
    }
    this.dropValue(id);
    this.putValue(id, value, valueBytes);
  }

  /** Whether a snapshot pins the store (then writes must {@link add}, not {@link update}). */
  get pinned(): boolean {
    return this.pins > 0;
  }

  /** Stores the value of record `id` (which has none). */
  private putValue(id: number, value: string, valueBytes: number): void {
    const u = this.u32[id >>> CHUNK_BITS]!;
    const i = (id & CHUNK_MASK) * 3;
    u[i + 2] = valueBytes;
    if (valueBytes === 0) u[i] = CLASS_EMPTY;
    else if (valueBytes > MAX_SLOT_BYTES) {
      u[i] = CLASS_LARGE;
      this.large.set(id, value);
    } else this.writeValue(this.takeSlot(id, valueBytes), value, valueBytes);
  }

  private writeValue(page: Buffer, value: string, valueBytes: number): void {
    const written = page.write(value, this.slotAt, valueBytes, 'utf8');
    if (written !== valueBytes) throw new Error(`record store: value of ${valueBytes} bytes wrote ${written}`);
  }

  /** Where the last {@link locate}d slot starts in its page. */
  private slotAt = 0;

  /** The page of `slot` of class `c`; the slot starts at {@link slotAt}. */
  private locate(c: number, slot: number): Buffer {
    const cls = this.classes[c - 1]!;
    const page = Math.floor(slot / cls.perPage);
    this.slotAt = (slot - page * cls.perPage) * cls.size;
    return cls.pages[page]!;
  }

  /** Gives record `id` a slot for a value of `len` bytes (0 < len <= MAX_SLOT_BYTES); returns its page, the slot at {@link slotAt}. */
  private takeSlot(id: number, len: number): Buffer {
    const u = this.u32[id >>> CHUNK_BITS]!;
    const i = (id & CHUNK_MASK) * 3;
    const c = classFor(len);
    const slot = this.classes[c - 1]!.take();
    u[i] = c;
    u[i + 1] = slot;
    u[i + 2] = len;
    return this.locate(c, slot);
  }

  /** Frees the value storage of record `id`. */
  private dropValue(id: number): void {
    const u = this.u32[id >>> CHUNK_BITS]!;
    const i = (id & CHUNK_MASK) * 3;
    const c = u[i]!;
    if (c === CLASS_LARGE) this.large.delete(id);
    else if (c !== CLASS_EMPTY) this.classes[c - 1]!.give(u[i + 1]!);
    u[i] = CLASS_EMPTY;
    u[i + 2] = 0;
  }

  /** Adds a record whose value is `src[start, start + len)` (UTF-8); returns its id. */
  addBytes(src: Buffer, start: number, len: number, createRevision: number, modRevision: number, lease: number | undefined): number {
    if (len > MAX_SLOT_BYTES) return this.add(src.toString('utf8', start, start + len), len, createRevision, modRevision, lease);
    if (len === 0) return this.add('', 0, createRevision, modRevision, lease);
    const id = this.newId(createRevision, modRevision, lease);
    src.copy(this.takeSlot(id, len), this.slotAt, start, start + len);
    return id;
  }

  private newId(createRevision: number, modRevision: number, lease: number | undefined): number {
    let id: number;
    if (this.freeIds.length > 0) id = this.freeIds.pop();
    else {
      id = this.nextId++;
      if (id >>> CHUNK_BITS >= this.f64.length) {
        this.f64.push(new Float64Array(CHUNK * 3));
        this.u32.push(new Uint32Array(CHUNK * 3));
      }
    }
    const f = this.f64[id >>> CHUNK_BITS]!;
    const i = (id & CHUNK_MASK) * 3;
    f[i] = createRevision;
    f[i + 1] = modRevision;
    f[i + 2] = lease ?? 0;
    this.live++;
    return id;
  }

  /** Lets record `id` go (kept until unpinned while a snapshot is being written). */
  release(id: number): void {
    if (this.pins > 0) this.deferred.push(id);
    else this.free(id);
  }

  private free(id: number): void {
    this.dropValue(id);
    this.freeIds.push(id);
    this.live--;
  }

  /** Keeps every record as it is until the returned function is called (once). */
  pin(): () => void {
    this.pins++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.pins > 0) return;
      while (this.deferred.length > 0) this.free(this.deferred.pop());
    };
  }

  createRevision(id: number): number {
    return this.f64[id >>> CHUNK_BITS]![(id & CHUNK_MASK) * 3]!;
  }

  modRevision(id: number): number {
    return this.f64[id >>> CHUNK_BITS]![(id & CHUNK_MASK) * 3 + 1]!;
  }

  /** The lease the record is attached to, or undefined. */
  lease(id: number): number | undefined {
    const l = this.f64[id >>> CHUNK_BITS]![(id & CHUNK_MASK) * 3 + 2]!;
    return l === 0 ? undefined : l;
  }

  /** The value's length in UTF-8 bytes. */
  valueBytes(id: number): number {
    return this.u32[id >>> CHUNK_BITS]![(id & CHUNK_MASK) * 3 + 2]!;
  }

  value(id: number): string {
    const u = this.u32[id >>> CHUNK_BITS]!;
    const i = (id & CHUNK_MASK) * 3;
    const c = u[i]!;
    if (c === CLASS_EMPTY) return '';
    if (c === CLASS_LARGE) return this.large.get(id)!;
    const page = this.locate(c, u[i + 1]!);
    return page.toString('utf8', this.slotAt, this.slotAt + u[i + 2]!);
  }

  /** Copies the value's UTF-8 bytes into `target` at `at`; returns how many. */
  copyValue(id: number, target: Buffer, at: number): number {
    const u = this.u32[id >>> CHUNK_BITS]!;
    const i = (id & CHUNK_MASK) * 3;
    const c = u[i]!;
    const len = u[i + 2]!;
    if (c === CLASS_EMPTY) return 0;
    if (c === CLASS_LARGE) return target.write(this.large.get(id)!, at, len, 'utf8');
    const page = this.locate(c, u[i + 1]!);
    return page.copy(target, at, this.slotAt, this.slotAt + len);
  }

  get stats(): RecordStoreStats {
    return {
      records: this.live,
      pageBytes: this.classes.reduce((n, c) => n + c.bytesReserved, 0),
    };
  }
}
