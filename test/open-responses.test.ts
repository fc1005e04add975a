import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { OpenResponses } from '../src/http/open-responses.ts';

const response = (name: string) => ({ name }) as unknown as ServerResponse;

describe('the open responses a stopping server closes', () => {
  it('holds what was added and not yet deleted, whatever the order of deletion', () => {
    const open = new OpenResponses();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(response) as [
      ServerResponse,
      ServerResponse,
      ServerResponse,
      ServerResponse,
    ];
    const entries = [a, b, c, d].map((res) => open.add(res));
    expect(open.size).toBe(4);
    open.delete(entries[1]!); // the middle
    open.delete(entries[3]!); // the newest, the list's head
    expect(open.size).toBe(2);
    expect(new Set(open)).toEqual(new Set([a, c]));
    open.delete(entries[0]!); // the oldest, the list's tail
    expect([...open]).toEqual([c]);
    open.delete(entries[2]!);
    expect(open.size).toBe(0);
    expect([...open]).toEqual([]);
  });

  it('counts a response deleted twice once', () => {
    const open = new OpenResponses();
    const first = open.add(response('a'));
    open.add(response('b'));
    open.delete(first);
    open.delete(first);
    expect(open.size).toBe(1);
    expect([...open]).toHaveLength(1);
  });

  it('takes responses again after it was emptied', () => {
    const open = new OpenResponses();
    open.delete(open.add(response('a')));
    const b = response('b');
    open.add(b);
    expect([...open]).toEqual([b]);
    expect(open.size).toBe(1);
  });
});
