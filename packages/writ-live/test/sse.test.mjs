// The SSE parser against the standard's rules, fed in every possible split.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SseParser, readSse } from '../src/sse.js';

/** Feeds `text` in pieces cut at `cuts` and returns every event. */
function parse(text, cuts = []) {
  const p = new SseParser();
  const out = [];
  let at = 0;
  for (const c of [...cuts, text.length]) {
    out.push(...p.push(text.slice(at, c)));
    at = c;
  }
  return { events: out, parser: p };
}

test('events, ids, comments and the default type', () => {
  const text =
    ': heartbeat\n\nevent: ready\ndata: {"version":3,"stale":false}\n\n' +
    'event: authz\nid: 7\ndata: {"version":7,"kind":"role_assigned"}\n\n' +
    'data: plain\n\n';
  const { events, parser } = parse(text);
  assert.deepEqual(events, [
    { event: 'ready', data: '{"version":3,"stale":false}', id: '' },
    { event: 'authz', data: '{"version":7,"kind":"role_assigned"}', id: '7' },
    { event: 'message', data: 'plain', id: '7' },
  ]);
  assert.equal(parser.lastEventId, '7', 'the id carries over to later events');
});

test('every split of the stream gives the same events', () => {
  const text = 'event: authz\r\nid: 12\r\ndata: a\r\ndata: b\r\n\r\nevent: x\rdata:c\r\r: c\ndata:  d\n\n';
  const whole = parse(text).events;
  assert.deepEqual(whole, [
    { event: 'authz', data: 'a\nb', id: '12' },
    { event: 'x', data: 'c', id: '12' },
    { event: 'message', data: ' d', id: '12' },
  ]);
  for (let i = 0; i <= text.length; i++) {
    for (const j of [i, Math.min(text.length, i + 1), Math.min(text.length, i + 3)]) {
      assert.deepEqual(parse(text, [i, j]).events, whole, `cut at ${i}, ${j}`);
    }
  }
});

test('the standard’s edge cases', () => {
  // A BOM is dropped; a field without a colon has an empty value; no data, no event.
  assert.deepEqual(parse('\uFEFFdata\n\n').events, [{ event: 'message', data: '', id: '' }]);
  assert.deepEqual(parse('event: lonely\n\n').events, []);
  // An id with NUL is ignored; retry must be digits; unknown fields are ignored.
  const { events, parser } = parse('id: 5\ndata: x\n\nid: 6\0\nretry: 1x\nfoo: bar\ndata: y\n\nretry: 2500\n');
  assert.deepEqual(events.map((e) => e.id), ['5', '5']);
  assert.equal(parser.retry, 2500);
  // A trailing incomplete event is not dispatched.
  assert.deepEqual(parse('data: half').events, []);
  // An empty id resets the last event id.
  assert.equal(parse('id: 3\ndata: a\n\nid\ndata: b\n\n').events[1].id, '');
});

test('readSse reads a byte stream, multi-byte characters split across chunks', async () => {
  const bytes = new TextEncoder().encode('event: authz\nid: 1\ndata: {"kind":"é✓"}\n\n: ping\n\n');
  const chunks = [bytes.slice(0, 30), bytes.slice(30, 31), bytes.slice(31)];
  const body = new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(ch);
      c.close();
    },
  });
  const out = [];
  for await (const e of readSse(body)) out.push(e);
  assert.deepEqual(out, [{ event: 'authz', data: '{"kind":"é✓"}', id: '1' }]);
});
