/**
 * The request target (the URL of the request line) and its query, parsed
 * strictly: anything malformed is a 400 naming the problem, never a 500, and
 * percent-encoded text that is not UTF-8 is refused rather than decoded to U+FFFD.
 */
import type { IncomingMessage } from 'node:http';
import { RequestError } from './request-error.js';

/**
 * What Node's parser lets through but the API does not serve: a version other
 * than HTTP/1.x (Node reads "HTTP/2.0" in a request line as HTTP/1), and an
 * HTTP/1.1 request without Host (checked here rather than by Node, whose
 * answer would not be JSON).
 */
export function checkRequestLine(req: IncomingMessage): void {
  if (req.httpVersionMajor !== 1) throw new RequestError(505, 'http-version-not-supported', `HTTP/${req.httpVersion} is not supported: this API speaks HTTP/1.0 and HTTP/1.1`, true);
  if (req.httpVersionMinor === 1 && req.headers.host === undefined) throw new RequestError(400, 'invalid', 'an HTTP/1.1 request must have a Host header', true);
}

/**
 * The URL of a request target: origin-form (`/path?query`) or absolute-form
 * (`http://host/path`). Only printable ASCII is accepted: other bytes must be
 * percent-encoded (raw bytes would be read as Latin-1 and silently changed), and so must '#'.
 */
export function parseTarget(raw: string | undefined): URL {
  const t = raw ?? '/';
  // A '#' would start a fragment, which is never sent on purpose: "a#b" must not become the key "a".
  const bad = /[^\x21-\x22\x24-\x7e]/.exec(t);
  if (bad !== null) throw new RequestError(400, 'invalid', `the request target holds the character U+${bad[0].codePointAt(0)!.toString(16).padStart(4, '0').toUpperCase()} at offset ${bad.index}; percent-encode it`);
  let url: URL | null;
  try {
    // Origin-form goes after a fixed origin, so that "//x" stays a path rather than becoming a host.
    url = t.startsWith('/') ? new URL(`http://localhost${t}`) : /^https?:\/\//i.test(t) ? new URL(t) : null;
  } catch {
    url = null;
  }
  if (url === null) throw new RequestError(400, 'invalid', `malformed request target ${JSON.stringify(t.length > 200 ? `${t.slice(0, 200)}...` : t)}: expected /path or http://host/path`);
  return url;
}

/** Percent-decodes one component; a malformed escape or bytes that are not UTF-8 are a 400 naming `what`. */
export function decodeComponent(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RequestError(400, 'invalid', `${what} is not valid percent-encoded UTF-8: ${JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}...` : s)}`);
  }
}

/**
 * The query parameters of `url`, each at most once and among `allowed`
 * (a misspelt parameter is an error rather than silently ignored).
 */
export function strictQuery(url: URL, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const q = url.search.slice(1);
  if (q.length === 0) return out;
  for (const part of q.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const name = decodeComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '), 'a query parameter name');
    const value = decodeComponent((eq < 0 ? '' : part.slice(eq + 1)).replace(/\+/g, ' '), `query parameter ${JSON.stringify(name)}`);
    if (!allowed.includes(name)) throw new RequestError(400, 'invalid', `unknown query parameter ${JSON.stringify(name)}${allowed.length > 0 ? `; expected ${allowed.join(', ')}` : ': this route takes none'}`);
    if (out.has(name)) throw new RequestError(400, 'invalid', `query parameter ${JSON.stringify(name)} is given more than once`);
    out.set(name, value);
  }
  return out;
}
