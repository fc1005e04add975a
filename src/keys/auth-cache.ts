import pg from 'pg';
import type { Logger } from '../log.ts';

/** The channel the hot-paths migration's triggers notify on, from the changing transaction. */
export const AUTH_CHANNEL = 'licentric_auth';

/** The safety net: how long an entry may serve without a word from the database. */
const TTL_MS = 10_000;
/** Past it, the oldest entry makes room. */
const MAX_ENTRIES = 10_000;

/**
 * Key hash → the row authentication read for it (a live license, or an API key), so a
 * heartbeat or a validation does not spend a database round trip on who is asking.
 *
 * Correctness rests on three things. Every replica forgets everything when PostgreSQL tells it
 * something an entry holds changed (`listenForAuthChanges`: triggers notify from the changing
 * transaction, so within a round trip of its commit); the replica that made the change forgets
 * at once, before it answers (`forget()` from the services). And an entry read from the
 * database is kept only if nothing was forgotten while it was being read (the generation), so a
 * lookup racing a change cannot put the old row back. Unknown keys are never cached: a key
 * created on another replica works at once. While no listener is connected, nothing is cached.
 */
export class AuthCache {
  readonly #entries = new Map<string, { row: object; until: number }>();
  #generation = 0;
  #listening = false;

  #lookup<T extends object>(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= performance.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.row as T;
  }

  #remember(key: string, row: object, generation: number): void {
    if (!this.#listening || generation !== this.#generation) return;
    // Oldest first out: a Map iterates in insertion order.
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { row, until: performance.now() + TTL_MS });
  }

  /** The record cached under `key`, if any: for callers that answer without a promise when they can. */
  peek<T extends object>(key: string): T | undefined {
    return this.#lookup<T>(key);
  }

  /**
   * The record cached under `key`, or what `load` reads from the database, remembered when it
   * exists (with the generation taken before the read, so a change during it is not cached over).
   */
  async through<T extends object>(key: string, load: () => Promise<T | null>): Promise<T | null> {
    const cached = this.#lookup<T>(key);
    if (cached !== undefined) return cached;
    const generation = this.#generation;
    const loaded = await load();
    if (loaded !== null) this.#remember(key, loaded, generation);
    return loaded;
  }

  /** Replaces a cached row in place (a refreshed `last_used_at`), keeping its expiry. */
  refresh(key: string, row: object): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined) entry.row = row;
  }

  /** Forgets everything: changes are rare (a suspension, a revocation), lookups are not. */
  forget(): void {
    this.#generation += 1;
    this.#entries.clear();
  }

  /** Whether notifications arrive; caching is off while they cannot. */
  set listening(on: boolean) {
    this.#listening = on;
    this.forget();
  }
}

export interface AuthListener {
  /**
   * Resolves once every notification committed before the call has been applied: a query on the
   * listening connection is answered after the notifications queued ahead of it.
   */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Keeps a connection LISTENing on the auth channel and forgets the cache on every notification.
 * A lost connection switches caching off until a new one listens (everything missed meanwhile
 * is forgotten with it); reconnects back off up to 5 s.
 */
export async function listenForAuthChanges(
  connectionString: string,
  cache: AuthCache,
  log: Logger,
): Promise<AuthListener> {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let delay = 250;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString, application_name: 'licentric auth cache' });
    next.on('notification', () => cache.forget());
    next.on('error', (error) => {
      log.warn({ err: error }, 'auth cache: listening connection failed; caching off until it is back');
      lost(next);
    });
    next.on('end', () => lost(next));
    await next.connect();
    await next.query(`listen ${AUTH_CHANNEL}`);
    if (closed) return void (await next.end());
    client = next;
    delay = 250;
    cache.listening = true;
  };

  const lost = (which: pg.Client) => {
    if (client !== which) return;
    client = undefined;
    cache.listening = false;
    if (!closed) schedule();
  };

  const schedule = () => {
    retry = setTimeout(() => {
      connect().catch((error: unknown) => {
        log.warn({ err: error }, 'auth cache: cannot listen yet; retrying');
        delay = Math.min(delay * 2, 5_000);
        if (!closed) schedule();
      });
    }, delay);
    retry.unref();
  };

  await connect();
  return {
    async sync() {
      await client?.query('select 1');
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      cache.listening = false;
      const current = client;
      client = undefined;
      await current?.end();
    },
  };
}
