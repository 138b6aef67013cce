// A Server-Sent Events parser (the WHATWG HTML standard's "event stream interpretation"),
// for streams read with fetch + ReadableStream: EventSource cannot send an Authorization
// header, so the token would have to go in the URL (and into logs); fetch can send it.

/**
 * @typedef {object} SseEvent
 * @property {string} event  The event type (`message` when the stream names none).
 * @property {string} data   The data lines, joined with "\n".
 * @property {string} id     The last event id seen on the stream (carried over, as the standard says).
 */

/**
 * A push parser: feed it text as it arrives, get back the complete events.
 *
 * Follows the standard: lines end with CRLF, LF or CR (a CR at the end of one chunk and an LF at
 * the start of the next are one line end); a line starting with ":" is a comment (heartbeats);
 * "field: value" loses one leading space; an `id` with a NUL is ignored; `retry` must be digits;
 * a blank line dispatches, unless no data line came; a leading byte order mark is dropped.
 */
export class SseParser {
  constructor() {
    this.buffer = '';
    this.started = false;
    this.pendingCr = false;
    this.eventType = '';
    this.data = [];
    this.hasData = false;
    /** The last event id (kept across events; send it back as Last-Event-ID). */
    this.lastEventId = '';
    /** The reconnection time the server asked for, in milliseconds, or null. */
    this.retry = null;
  }

  /**
   * Feeds a piece of decoded text; returns the events it completed, in order.
   * @param {string} text
   * @returns {SseEvent[]}
   */
  push(text) {
    if (text.length === 0) return [];
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const out = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** One line: a field, a comment, or the blank line that dispatches. */
  line(line) {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
    return null;
  }

  dispatch() {
    const type = this.eventType || 'message';
    const hasData = this.hasData;
    const data = this.data.join('\n');
    this.eventType = '';
    this.data = [];
    this.hasData = false;
    if (!hasData) return null;
    return { event: type, data, id: this.lastEventId };
  }
}

/**
 * Reads a fetch Response body as Server-Sent Events.
 * @param {ReadableStream<Uint8Array>} body
 * @param {SseParser} [parser] reuse one to keep the last event id across reads
 * @returns {AsyncGenerator<SseEvent>}
 */
export async function* readSse(body, parser = new SseParser()) {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    finished = true;
    yield* parser.push(decoder.decode());
  } finally {
    // Left early (the consumer stopped): let the connection go.
    if (!finished) await reader.cancel().catch(() => {});
  }
}
