import type { Config } from './config.ts';
import { SecretRing } from './core/sealing.ts';
import { type EmbeddedDatabase, type EmbeddedRole, startEmbeddedDatabase } from './db/embedded.ts';
import { initOrm, migrate, type Orm } from './db/orm.ts';
import { ENTITIES } from './entities.ts';
import { KeyHasher } from './keys/hashing.ts';
import { loadOrCreateSecret } from './keys/secret.ts';
import type { Logger } from './log.ts';
import { unopenableActiveKey } from './offline/signing-keys.ts';
import { resealAll, secretsSeed } from './secrets.ts';
import { StartupError } from './startup.ts';

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
