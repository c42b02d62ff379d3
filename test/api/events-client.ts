/** A test client of `GET /v1/events`: reads the stream with fetch and hands out its messages. */
import { SseStream } from './sse-stream.js';

export interface StreamMessage {
  /** `snapshot`, `state`, `event`, or `comment` for a `:` line. */
  readonly event: string;
  readonly data: unknown;
  /** The raw text of a comment. */
  readonly text?: string;
}

export class EventsClient extends SseStream<StreamMessage> {
  /** Opens the stream; resolves once the headers are in (whatever the status). */
  static async open(url: string, headers: Record<string, string> = {}): Promise<EventsClient> {
    const ac = new AbortController();
    const res = await fetch(`${url}/v1/events`, { headers, signal: ac.signal });
    return new EventsClient(res, ac, (m) => (m.event === 'comment' ? { event: 'comment', data: null, text: m.data } : { event: m.event, data: JSON.parse(m.data) as unknown }), { comments: true });
  }

  /** The first message (from `from` on) that satisfies `pred`; rejects after `timeoutMs`. */
  async next(pred: (m: StreamMessage) => boolean, timeoutMs = 5000, from = 0): Promise<StreamMessage> {
    await this.until((ms) => ms.slice(from).some(pred), timeoutMs, 'the message came');
    return this.messages.slice(from).find(pred)!;
  }
}
