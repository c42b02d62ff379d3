/** A reader of server-sent events (the subset tsraft sends: `id`, `event`, `data`, comments). */

/** One server-sent event; `data` is the text of its data lines joined by newlines. */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
  readonly id?: string;
}

/**
 * The messages of an event stream's body, as they complete; a message cut off
 * by the end of the body is dropped. With `comments`, each `:` line is also
 * yielded, as event `comment` with its text (heartbeats, for tests and monitors).
 */
export async function* readSse(body: AsyncIterable<Uint8Array>, opts: { comments?: boolean } = {}): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          if (opts.comments === true) yield { event: 'comment', data: line.slice(1).trim() };
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') id = value;
      }
      if (data.length > 0) yield { event, data: data.join('\n'), ...(id !== undefined && { id }) };
    }
  }
}
