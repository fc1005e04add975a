/**
 * Where "now" comes from. Services take a Clock instead of calling `new Date()` so that tests
 * can move time without sleeping.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to: the tests' clock. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start: Date | string = '2026-03-01T14:00:00.000Z') {
    this.#now = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  set(to: Date | string): void {
    this.#now = new Date(to).getTime();
  }

  advance(ms: number): Date {
    this.#now += ms;
    return this.now();
  }
}
