/**
 * A value made when it is first asked for, then kept; or a value given as it is. A request's
 * services hold their EntityManager this way: the hot requests (heartbeats, validations) never
 * touch the ORM, and its fork (an EntityManager and a unit of work a request) was a share of
 * their allocations.
 */
export class Lazy<T> {
  #made = false;
  #value: T | undefined;
  readonly #make: () => T;

  private constructor(make: () => T) {
    this.#make = make;
  }

  /** Made by `make` on first use. */
  static of<T>(make: () => T): Lazy<T> {
    return new Lazy(make);
  }

  /** `source` itself when it is already one (services passing theirs on share it), else `source` now. */
  static from<T>(source: T | Lazy<T>): Lazy<T> {
    return source instanceof Lazy ? source : new Lazy(() => source);
  }

  get value(): T {
    if (!this.#made) {
      this.#value = this.#make();
      this.#made = true;
    }
    return this.#value as T;
  }
}
