import { existsSync } from 'node:fs';
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
