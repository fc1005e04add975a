import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from './config.ts';
import { openBody, SecretRing, sealBody } from './core/sealing.ts';
import { type EmbeddedDatabase, type EmbeddedRole, startEmbeddedDatabase } from './db/embedded.ts';
import { initOrm, migrate, type Orm } from './db/orm.ts';
import { execute, sql } from './db/sql.ts';
import { ENTITIES } from './entities.ts';
import { KeyHasher } from './keys/hashing.ts';
import { loadOrCreateSecret } from './keys/secret.ts';
import type { Logger } from './log.ts';
import { ensureSigningKey, resealSigningKeys, unopenableActiveKey } from './offline/signing-keys.ts';
import { StartupError } from './startup.ts';
import { resealWebhookSecrets } from './webhooks/secrets.ts';

/** What every entry point (server, worker, CLI) needs: a migrated database and the key hasher. */
export interface Runtime {
  orm: Orm;
  /** The database's URL, for what opens connections of its own (the webhook job queue). */
  databaseUrl: string;
  hasher: KeyHasher;
  /** The server secret (LICENTRIC_SECRET or the data folder's), which seals the signing keys. */
  secret: string;
  /** It and the former secrets of a rotation (LICENTRIC_PREVIOUS_SECRETS), which only open and match. */
  secrets: SecretRing;
  close(): Promise<void>;
}

/** The one line for a server secret that does not open the active signing key. */
function secretMismatch(keyId: string, fromEnvironment: boolean): string {
  const source = fromEnvironment ? 'LICENTRIC_SECRET' : 'the secret file in the data folder (LICENTRIC_DATA_DIR)';
  return (
    `the server secret cannot open the active signing key ${keyId}: ${source} is not the secret the ` +
    'signing keys were sealed under. It was changed or replaced; start with the previous secret, or ' +
    'rotate: the new one in LICENTRIC_SECRET, the previous one in LICENTRIC_PREVIOUS_SECRETS ' +
    '(signing keys cannot be recovered without it)'
  );
}

export async function openRuntime(
  config: Config,
  log: Logger,
  options: { poolSize?: number; embeddedRole?: EmbeddedRole } = {},
): Promise<Runtime> {
  let embedded: EmbeddedDatabase | undefined;
  let clientUrl = config.databaseUrl;
  if (clientUrl === undefined) {
    embedded = await startEmbeddedDatabase(config.dataDir, log, { role: options.embeddedRole });
    clientUrl = embedded.url;
  }
  try {
    const secret = config.secret ?? (await loadOrCreateSecret(config.dataDir));
    const secrets = new SecretRing(secret, config.previousSecrets);
    const orm = await initOrm({
      clientUrl,
      entities: ENTITIES,
      log,
      poolSize: options.poolSize,
      acquireTimeoutMs: config.dbAcquireTimeoutMs,
      statementTimeoutMs: config.dbStatementTimeoutMs,
    });
    try {
      // The first signing key is sealed under the secret, so it is made here, under the migration lock.
      const applied = await migrate(orm, secretsSeed(secrets));
      if (applied.length > 0) log.info({ migrations: applied }, 'migrations applied');
      // A changed secret leaves every sealed key unreadable: say so now, not at the first check-out.
      const unopenable = await unopenableActiveKey(orm.em.fork(), secrets);
      if (unopenable !== null) throw new StartupError(secretMismatch(unopenable, config.secret !== undefined));
      // Sealed rows move under the current secret now, before anything is served from them.
      const moved = await resealAll(orm.em.fork(), secrets);
      if (Object.values(moved).some((n) => n > 0)) log.info({ moved }, 'sealed secrets moved under the current secret');
    } catch (error) {
      await orm.close();
      throw error;
    }
    return {
      orm,
      databaseUrl: clientUrl,
      hasher: new KeyHasher(secrets),
      secret,
      secrets,
      close: async () => {
        await orm.close();
        await embedded?.stop();
      },
    };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

/**
 * Rotating the server secret (LICENTRIC_SECRET, with the former ones in
 * LICENTRIC_PREVIOUS_SECRETS). What was sealed under a former secret is few rows (signing keys,
 * webhook endpoints, a day of idempotent responses) and is re-sealed under the current one on
 * every start, in small guarded batches, so a single restart moves it all and nothing waits for
 * its first use. What was hashed cannot be re-hashed without the key itself, which the server
 * never stores: a license key or API token moves when it is next presented (src/licenses,
 * src/keys/api-keys.service.ts). `rotate-check` counts what still depends on a former secret.
 */

/**
 * The start's seed, under the migration lock: records which secret made the rows of before
 * secret ids were recorded (the first start after the upgrade: the secret of the ring that opens
 * the signing keys, or the current one when there are none yet), attributes the small tables'
 * rows to it, and makes the first signing key if there is none.
 */
export function secretsSeed(ring: SecretRing): (em: EntityManager) => Promise<void> {
  return async (em) => {
    const [recorded] = await execute<{ secret_id: string }[]>(em, sql`select secret_id from legacy_secret`);
    if (!recorded) {
      let legacy = ring.current.id;
      for (const candidate of ring.all) {
        if ((await unopenableActiveKey(em, candidate.secret)) === null) {
          legacy = candidate.id;
          break;
        }
      }
      await execute(em, sql`insert into legacy_secret (secret_id) values (${legacy}) on conflict do nothing`);
      // The small tables take their id now; licenses, which may be millions, read null as it.
      await execute(em, sql`update signing_keys set secret_id = ${legacy} where secret_id is null`);
      await execute(em, sql`update api_keys set token_secret_id = ${legacy} where token_secret_id is null`);
      await execute(em, sql`update idempotency_keys set secret_id = ${legacy} where secret_id is null`);
    }
    await ensureSigningKey(ring)(em);
  };
}

/** How many rows to re-seal per transaction, so no batch holds many rows for long. */
const BATCH = 200;

/**
 * Re-seals under the current secret what is sealed under a former one the ring still holds, and
 * seals the webhook secrets still stored plain. Each row's update is guarded on the secret id it
 * read, so replicas starting together do not undo each other. Returns how many rows moved, per kind.
 */
export async function resealAll(em: EntityManager, ring: SecretRing): Promise<Record<string, number>> {
  const moved = {
    signingKeys: await resealSigningKeys(em, ring),
    webhookSecrets: await resealWebhookSecrets(em, ring),
    idempotentResponses: 0,
  };
  if (ring.previous.length === 0) return moved;
  const keys = new KeyHasher(ring).bodyKeys();
  const current = keys.get(ring.current.id)!;
  const formerIds = ring.previous.map((s) => s.id);
  for (;;) {
    const rows = await execute<{ scope: string; key: string; body: string; secret_id: string }[]>(
      em,
      sql`select scope, key, body, secret_id from idempotency_keys
           where body is not null and secret_id in (${sql.join(
             formerIds.map((id) => sql`${id}`),
             ', ',
           )})
           limit ${BATCH}`,
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      let body: unknown;
      try {
        body = openBody(keys, row.body, row.secret_id);
      } catch {
        // It does not open (a corrupt row): it is worthless and would be selected forever.
        await execute(
          em,
          sql`delete from idempotency_keys where scope = ${row.scope} and key = ${row.key} and secret_id = ${row.secret_id}`,
        );
        continue;
      }
      const updated = await execute<{ key: string }[]>(
        em,
        sql`update idempotency_keys set body = ${sealBody(current, body)}, secret_id = ${ring.current.id}
             where scope = ${row.scope} and key = ${row.key} and secret_id = ${row.secret_id} returning key`,
      );
      moved.idempotentResponses += updated.length;
    }
  }
  return moved;
}

/** One group of rows that depend on a secret other than the current one. */
export interface SecretDependants {
  /** What depends on it: `licenses.key_hash`, `signing_keys.private_key_encrypted`, … */
  kind: string;
  /** The secret's id; `unknown` for rows from before ids were recorded, on a database never started since. */
  secretId: string;
  /** Whether that secret is in the ring (LICENTRIC_PREVIOUS_SECRETS), so what it made still works. */
  inRing: boolean;
  count: number;
}

/** Every row whose hash or seal was made under a secret other than the current one, by kind and secret. */
export async function rotateCheck(em: EntityManager, ring: SecretRing): Promise<SecretDependants[]> {
  const [legacy] = await execute<{ secret_id: string }[]>(em, sql`select secret_id from legacy_secret`);
  const legacyId = legacy?.secret_id ?? 'unknown';
  const current = ring.current.id;
  const groups: { kind: string; column: string; from: string }[] = [
    { kind: 'licenses.key_hash', column: 'key_secret_id', from: 'licenses where deleted_at is null' },
    { kind: 'api_keys.token_hash', column: 'token_secret_id', from: 'api_keys' },
    { kind: 'signing_keys.private_key_encrypted', column: 'secret_id', from: 'signing_keys' },
    {
      kind: 'webhook_endpoints.secret_sealed',
      column: 'secret_id',
      from: 'webhook_endpoints where deleted_at is null and secret is null',
    },
    { kind: 'idempotency_keys.body', column: 'secret_id', from: 'idempotency_keys where body is not null' },
  ];
  const found: SecretDependants[] = [];
  for (const { kind, column, from } of groups) {
    const rows = await execute<{ secret_id: string; count: string }[]>(
      em,
      sql`select secret_id, count(*) as count from (
            select coalesce(${sql.raw(column)}, ${legacyId}) as secret_id from ${sql.raw(from)}) t
           where secret_id <> ${current} group by secret_id order by secret_id`,
    );
    for (const row of rows)
      found.push({
        kind,
        secretId: row.secret_id,
        inRing: ring.byId(row.secret_id) !== undefined,
        count: Number(row.count),
      });
  }
  // Plain webhook secrets depend on no secret, but are not yet sealed: a start seals them.
  const [plain] = await execute<{ count: string }[]>(
    em,
    sql`select count(*) as count from webhook_endpoints where deleted_at is null and secret is not null`,
  );
  if (Number(plain!.count) > 0)
    found.push({
      kind: 'webhook_endpoints.secret (plain)',
      secretId: 'none',
      inRing: true,
      count: Number(plain!.count),
    });
  return found;
}
