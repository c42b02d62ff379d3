/**
 * The membership operations the HTTP API exposes (docs/API.md), as the server
 * implements them. The HTTP layer (src/api/http.ts) maps routes to these
 * calls and {@link MembershipError} codes to statuses; the server
 * (src/server) does the work, asking the leader when it is not the leader.
 */

/** One member as `GET /v1/members` shows it. */
export interface MemberView {
  readonly name: string;
  /** The numeric Raft id (unique per data directory: a node that comes back empty is a new member). */
  readonly id: number;
  readonly role: 'voter' | 'learner';
  /** Where its Raft transport listens (HOST:PORT). */
  readonly peerAddress: string;
  /** Its HTTP API base URL. */
  readonly apiUrl: string;
  /** The leader's match index for it (the leader's own last index for itself); null when no leader is known. */
  readonly matchIndex: number | null;
  /** How many entries it is behind the leader's last index; null when no leader is known. */
  readonly lag: number | null;
}

/** `GET /v1/members`. */
export interface MembersView {
  readonly members: readonly MemberView[];
  /** The leader's name, or null while there is none. */
  readonly leader: string | null;
  /** True while the cluster is in a joint configuration (a change of voters is in progress). */
  readonly joint: boolean;
}

/** `POST /v1/members` body. */
export interface AddMemberRequest {
  readonly name: string;
  readonly peerAddress: string;
  readonly apiUrl: string;
  /** Stay a learner; otherwise the leader promotes it once it has caught up. */
  readonly learner: boolean;
  /** The joining node's data-directory id, when the node itself asks (`tsraft serve --join`). */
  readonly uid?: string;
}

/** `POST /v1/members` answer: the new member, and what the joining node needs to start. */
export interface AddMemberResult {
  readonly member: MemberView;
  readonly clusterId: string;
  readonly members: readonly MemberView[];
}

/** Why a membership operation failed, with the HTTP status it maps to. */
export type MembershipErrorCode =
  | 'bad-request' // 400: malformed input
  | 'not-found' // 404: no member of that name
  | 'conflict' // 409: already a member, a change in flight, not caught up, ...
  | 'unavailable'; // 503: no leader, or the leader could not be reached

export class MembershipError extends Error {
  override name = 'MembershipError';
  constructor(
    readonly code: MembershipErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Who asked: a call forwarded to the leader carries the caller's `Authorization` header on. */
export interface CallerContext {
  readonly authorization?: string | undefined;
}

/** What the server offers the HTTP API for membership. Every call resolves once the change is committed. */
export interface MembershipApi {
  list(caller?: CallerContext): Promise<MembersView>;
  add(req: AddMemberRequest, caller?: CallerContext): Promise<AddMemberResult>;
  promote(name: string, caller?: CallerContext): Promise<MemberView>;
  /** Removes a member; removing the leader first transfers leadership. */
  remove(name: string, caller?: CallerContext): Promise<void>;
  /** Transfers leadership to `to`, or to the most up-to-date voter; resolves with the new leader's name. */
  transferLeader(to: string | null, caller?: CallerContext): Promise<{ readonly leader: string }>;
}
