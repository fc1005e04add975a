import type { ServerResponse } from 'node:http';

/** An open response, linked to the ones opened just before and after it. */
export interface OpenResponse {
  readonly res: ServerResponse;
  prev: OpenResponse | undefined;
  next: OpenResponse | undefined;
}

/**
 * The responses not yet closed, for a stopping server: each still unsent is told to close its
 * connection, and their count is logged when the grace runs out.
 *
 * Not a `Set`. With every response added to one long-lived Set and deleted when it closed, each
 * response outlived its request whenever V8 was marking the old generation, a large part of the
 * time under load: every response's objects (~2 KiB) reached the old generation, and kept a
 * full collection running three times a second. A bare node:http server shows it as well as the
 * API (bench/README.md, "The responses' Set"). Entries linked to each other, unlinked on close,
 * do not keep them.
 */
export class OpenResponses {
  #head: OpenResponse | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds `res`; the entry returned is what `delete` takes. */
  add(res: ServerResponse): OpenResponse {
    const entry: OpenResponse = { res, prev: undefined, next: this.#head };
    if (this.#head !== undefined) this.#head.prev = entry;
    this.#head = entry;
    this.#size++;
    return entry;
  }

  /** Removes an entry `add` returned; removing it twice changes nothing. */
  delete(entry: OpenResponse): void {
    if (entry.prev === undefined && this.#head !== entry) return;
    if (entry.prev !== undefined) entry.prev.next = entry.next;
    else this.#head = entry.next;
    if (entry.next !== undefined) entry.next.prev = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
    this.#size--;
  }

  *[Symbol.iterator](): IterableIterator<ServerResponse> {
    for (let entry = this.#head; entry !== undefined; entry = entry.next) yield entry.res;
  }
}
