import type { Config } from './config.ts';
import { type EmbeddedDatabase, type EmbeddedRole, startEmbeddedDatabase } from './db/embedded.ts';
import { initOrm, migrate, type Orm } from './db/orm.ts';
import { ENTITIES } from './entities.ts';
import { KeyHasher } from './keys/hashing.ts';
import { loadOrCreateSecret } from './keys/secret.ts';
import type { Logger } from './log.ts';
import { ensureSigningKey } from './offline/signing-keys.ts';

/** What every entry point (server, worker, CLI) needs: a migrated database and the key hasher. */
export interface Runtime {
  orm: Orm;
  /** The database's URL, for what opens connections of its own (the webhook job queue). */
  databaseUrl: string;
  hasher: KeyHasher;
  /** The server secret: the signing keys are sealed under it. */
  secret: string;
  close(): Promise<void>;
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
      const applied = await migrate(orm, ensureSigningKey(secret));
      if (applied.length > 0) log.info({ migrations: applied }, 'migrations applied');
    } catch (error) {
      await orm.close();
      throw error;
    }
    return {
      orm,
      databaseUrl: clientUrl,
      hasher: new KeyHasher(secret),
      secret,
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
