/**
 * The lab's stand-in for a disk: two byte arrays, Raft state and snapshot,
 * replaced together and atomically by {@link Persister.save}. Reads return
 * copies, so nobody can change what was saved behind the persister's back.
 */
export class Persister {
  private raftState: Uint8Array = new Uint8Array(0);
  private snapshotBytes: Uint8Array = new Uint8Array(0);

  /** A new persister holding the same contents (the tester uses it to detach a crashed server). */
  copy(): Persister {
    const p = new Persister();
    p.raftState = this.raftState;
    p.snapshotBytes = this.snapshotBytes;
    return p;
  }

  /** Replaces both arrays at once. A null snapshot means "no snapshot". */
  save(raftState: Uint8Array, snapshot: Uint8Array | null): void {
    this.raftState = raftState.slice();
    this.snapshotBytes = snapshot === null ? new Uint8Array(0) : snapshot.slice();
  }

  readRaftState(): Uint8Array {
    return this.raftState.slice();
  }

  raftStateSize(): number {
    return this.raftState.length;
  }

  readSnapshot(): Uint8Array {
    return this.snapshotBytes.slice();
  }

  snapshotSize(): number {
    return this.snapshotBytes.length;
  }
}
