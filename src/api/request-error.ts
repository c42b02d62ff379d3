/**
 * A request refused for what the client sent, with its HTTP status and error
 * code; `close`: the connection must not be reused (where the request ends is unknown).
 */
export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    readonly status: 400 | 404 | 408 | 413 | 505,
    readonly code: 'invalid' | 'not-found' | 'request-timeout' | 'too-large' | 'http-version-not-supported',
    message: string,
    readonly close = false,
  ) {
    super(message);
  }
}
