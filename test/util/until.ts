/** Polls `cond` every `everyMs` until it holds; throws `timed out waiting for <what>` after `ms`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
