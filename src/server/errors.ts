/**
 * This node was refused by a peer because its data directory is not the one
 * the cluster knows under its name (it was emptied or replaced). It must not
 * take part under that identity: the message says what to run instead.
 */
export class PeerIdentityError extends Error {
  override name = 'PeerIdentityError';
}
