import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

/**
 * Where Debian's Chromium is (`apt-get install chromium`; .ci/run installs it). Never a
 * downloaded browser: TSRAFT_CHROMIUM may name another system binary.
 */
export function chromiumPath(): string {
  const candidates = [process.env['TSRAFT_CHROMIUM'], '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => p !== undefined && p !== '');
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`no Chromium found (looked at ${candidates.join(', ')}): run \`apt-get install -y chromium\` or set TSRAFT_CHROMIUM`);
  return found;
}

/** Launches headless Chromium; the caller closes it. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-gpu'] });
}

/** The repository's root (tests run from dist/test/web). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * One Chromium for the test file, and a temporary directory removed after it:
 * registers the before/after hooks; `browser()` is valid inside the tests.
 */
export function browserSuite(dirPrefix: string): { browser(): Browser; readonly dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), dirPrefix));
  let b: Browser | undefined;
  before(async () => {
    b = await launchBrowser();
  });
  after(async () => {
    await b?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    browser: () => {
      if (b === undefined) throw new Error('browserSuite: the browser starts in the before hook; call browser() inside a test');
      return b;
    },
  };
}
