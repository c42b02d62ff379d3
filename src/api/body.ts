/**
 * Reading a request's JSON body within limits: a size cap, an idle timer (a
 * body that stalls is cut within seconds, not Node's 300 s), UTF-8 checked
 * byte for byte (never replaced with U+FFFD), and a client that goes away
 * told apart from an error of ours.
 */
import type { IncomingMessage } from 'node:http';
import { invalidUtf8Offset } from '../util/utf8.js';
import { RequestError } from './request-error.js';

/** The client closed its connection before sending the whole body: nothing to answer, nothing to log as an error. */
export class ClientAbortedError extends Error {
  override name = 'ClientAbortedError';
}

export interface BodyLimits {
  readonly maxBytes: number;
  readonly idleTimeoutMs: number;
}

/** The raw body, at most `maxBytes`, each byte arriving within `idleTimeoutMs` of the one before. */
export function collectBody(req: IncomingMessage, l: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    if (req.readableEnded) return resolve(Buffer.alloc(0));
    // One timer for the whole body, pushed back by each chunk (refresh() reuses it: no timer per chunk).
    const timer = setTimeout(() => fail(new RequestError(408, 'request-timeout', `the request body stalled: no byte for ${l.idleTimeoutMs} ms`, true)), l.idleTimeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
    };
    const fail = (e: Error): void => {
      done();
      reject(e);
    };
    const onData = (c: Buffer): void => {
      n += c.length;
      if (n > l.maxBytes) return fail(new RequestError(413, 'too-large', `request body exceeds the limit of ${l.maxBytes} bytes`));
      chunks.push(c);
      timer.refresh();
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    // 'close' before 'end', or 'error' (ECONNRESET "aborted"): the client went away mid-body.
    const onAbort = (): void => fail(new ClientAbortedError('the client closed the connection before the end of the request body'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onAbort);
    req.once('close', onAbort);
  });
}

/** The JSON object in the request's body; `optional`: an empty body reads as `{}`. */
export async function readJsonBody(req: IncomingMessage, l: BodyLimits, optional = false): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > l.maxBytes) throw new RequestError(413, 'too-large', `request body of ${declared} bytes exceeds the limit of ${l.maxBytes}`);
  const body = await collectBody(req, l);
  if (body.length === 0) {
    if (optional) return {};
    throw new RequestError(400, 'invalid', 'a JSON body is required');
  }
  const bad = invalidUtf8Offset(body);
  if (bad >= 0) throw new RequestError(400, 'invalid', `the request body is not valid UTF-8 (byte 0x${body[bad]!.toString(16).padStart(2, '0')} at offset ${bad}); send UTF-8 JSON`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new RequestError(400, 'invalid', `malformed JSON body: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RequestError(400, 'invalid', 'the JSON body must be an object');
  return parsed as Record<string, unknown>;
}
