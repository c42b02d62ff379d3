/**
 * The live dashboard's page (`GET /`, `GET /dashboard`) and the cross-origin
 * rules of the stream it reads (`GET /v1/events` from another member's page).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` puts the page (scripts/build-web.mjs): dist/src/web/dashboard.html, beside dist/src/api. */
export const DASHBOARD_FILE = fileURLToPath(new URL('../web/dashboard.html', import.meta.url));
/** The playground (docs/PLAYGROUND.md): a cluster simulated in the browser; it reads nothing from the node. */
export const PLAYGROUND_FILE = fileURLToPath(new URL('../web/playground.html', import.meta.url));

const cached = new Map<string, { readonly body: Buffer; readonly etag: string }>();

/** A built page, read once; null if the build did not make it. */
function page(file: string): { readonly body: Buffer; readonly etag: string } | null {
  const hit = cached.get(file);
  if (hit !== undefined) return hit;
  let body: Buffer;
  try {
    body = readFileSync(file);
  } catch {
    return null;
  }
  const v = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
  if (file === DASHBOARD_FILE || file === PLAYGROUND_FILE) cached.set(file, v);
  return v;
}

/**
 * Answers with the dashboard page: HTML, revalidated on every load (`no-cache`
 * with an ETag, so an upgraded node serves its new page at once); 404 with
 * a JSON error if the page was not built.
 */
export function serveDashboard(req: IncomingMessage, res: ServerResponse, file = DASHBOARD_FILE): void {
  const p = page(file);
  if (p === null) {
    const text = JSON.stringify({ error: 'not-found', message: `the page is not built (${file} is missing): run npm run build` });
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  const headers = {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-cache',
    etag: p.etag,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (req.headers['if-none-match'] === p.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': p.body.length });
  res.end(p.body);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function parseOrigin(s: string): URL | null {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

/** The port of a URL, the scheme's default filled in. */
function portOf(u: URL): string {
  return u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80';
}

/**
 * Whether a page from `origin` may read this node's event stream: its origin
 * must be a member's API (the dashboard loaded from another member). A
 * loopback origin matches a loopback member on the same scheme and port
 * (`localhost` and `127.0.0.1` are the same machine). Any other site is
 * refused, so a web page a person happens to open cannot read the cluster's state.
 */
export function allowedOrigin(origin: string | undefined, memberUrls: readonly string[]): boolean {
  if (origin === undefined) return false;
  const o = parseOrigin(origin);
  if (o === null) return false;
  for (const m of memberUrls) {
    const u = parseOrigin(m);
    if (u === null || u.protocol !== o.protocol || portOf(u) !== portOf(o)) continue;
    if (u.hostname === o.hostname || (LOOPBACK.has(u.hostname) && LOOPBACK.has(o.hostname))) return true;
  }
  return false;
}

/** CORS headers for a request to `/v1/events`: empty unless its Origin is a member's. */
export function eventsCorsHeaders(req: IncomingMessage, memberUrls: () => readonly string[]): Record<string, string> {
  const origin = req.headers['origin'];
  if (origin === undefined || !allowedOrigin(origin, memberUrls())) return { vary: 'Origin' };
  return { 'access-control-allow-origin': origin, vary: 'Origin' };
}

/** The answer to a CORS preflight of `/v1/events` (a page that sends an Authorization header asks first). */
export function eventsPreflight(req: IncomingMessage, res: ServerResponse, memberUrls: () => readonly string[]): void {
  const cors = eventsCorsHeaders(req, memberUrls);
  const ok = cors['access-control-allow-origin'] !== undefined;
  res.writeHead(ok ? 204 : 403, {
    ...cors,
    ...(ok && { 'access-control-allow-methods': 'GET', 'access-control-allow-headers': 'authorization', 'access-control-max-age': '600' }),
    'content-length': '0',
  });
  res.end();
}
