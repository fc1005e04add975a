import { existsSync } from 'node:fs';
import path from 'node:path';
import { BackupError, backupDatabase, findPgClient, restoreDatabase, serverMajor } from '../../db/backup.ts';
import { dataFolderHolder, startEmbeddedDatabase } from '../../db/embedded.ts';
import { createLogger } from '../../log.ts';
import { openRuntime } from '../../runtime.ts';
import { StartupError } from '../../startup.ts';
import type { Command } from '../command.ts';

type Config = Parameters<Command['run']>[1];

const EXTERNAL =
  "is for the embedded database; DATABASE_URL names another, which its own pg_dump and pg_restore back up (README, 'Backups and restore')";

/** The reminder both commands end with: the backup is useless without the secret, which it does not hold. */
function secretNote(config: Config): string {
  const where =
    config.secret !== undefined ? 'LICENTRIC_SECRET' : `the secret file of the data folder (${config.dataDir}/secret)`;
  return `The backup does not hold the server secret, ${where}: keep it apart, since no key in the backup authenticates without it.`;
}

/** The tools' failures, said as the CLI says every failure an operator can fix: in one line. */
async function oneLine<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw error instanceof BackupError ? new StartupError(error.message) : error;
  }
}

function refuseExternal(config: Config, command: string): void {
  if (config.databaseUrl !== undefined) throw new StartupError(`licentric ${command} ${EXTERNAL}`);
}

/** Whether the data folder holds an embedded database (or is a new one that would be made now). */
function hasCluster(dataDir: string): boolean {
  return existsSync(path.join(dataDir, 'pg', 'PG_VERSION')) || existsSync(path.join(dataDir, 'pg-location'));
}

/** Backing up and restoring the embedded database. */
export const BACKUP_COMMANDS: Record<string, Command> = {
  backup: {
    usage: 'FILE',
    summary:
      "Back up the embedded database into FILE (pg_dump's custom format), while the server runs; needs PostgreSQL 18's pg_dump (make pg-client, or LICENTRIC_PG_BIN)",
    options: {},
    takesId: 'FILE',
    async run({ id: file }, config) {
      refuseExternal(config, 'backup');
      if (!hasCluster(config.dataDir))
        throw new StartupError(`there is no embedded database in ${config.dataDir} to back up (LICENTRIC_DATA_DIR)`);
      const log = createLogger(config.logLevel, process.stderr);
      // With a server running, this joins its PostgreSQL; alone, it starts it for the length of the backup.
      const embedded = await startEmbeddedDatabase(config.dataDir, log, { role: 'any' });
      try {
        const client = await oneLine(
          findPgClient(await serverMajor(embedded.url), process.env.LICENTRIC_PG_BIN || undefined),
        );
        const { bytes } = await oneLine(backupDatabase(client, embedded.url, file!));
        process.stdout.write(
          `Backed up the database into ${path.resolve(file!)} (${bytes} bytes).\n${secretNote(config)}\n`,
        );
      } finally {
        await embedded.stop();
      }
      return 0;
    },
  },

  restore: {
    usage: 'FILE',
    summary:
      'Replace the embedded database by the backup in FILE, with the server stopped, then bring its schema up to date; needs the secret of the server it was made on',
    options: {},
    takesId: 'FILE',
    async run({ id: file }, config) {
      refuseExternal(config, 'restore');
      const source = path.resolve(file!);
      if (!existsSync(source)) throw new StartupError(`${source} does not exist`);
      // A database replaced under a running server would leave its caches and connections on
      // the old one, and its writes in flight would land in either: restore wants it stopped.
      const holder = await dataFolderHolder(config.dataDir);
      if (holder !== undefined)
        throw new StartupError(
          `the data folder ${config.dataDir} is in use by pid ${holder.pid} (${holder.role === 'server' ? 'a Licentric server' : 'a worker or CLI command'}); stop it, then restore`,
        );
      // Without the secret it was made under, the restored keys would not authenticate, and a start
      // would make a new secret that never matches: put the old one back first.
      if (config.secret === undefined && !existsSync(path.join(config.dataDir, 'secret')))
        throw new StartupError(
          `neither LICENTRIC_SECRET nor ${path.join(config.dataDir, 'secret')} is there: put back the secret of the server the backup was made on, then restore`,
        );
      const log = createLogger(config.logLevel, process.stderr);
      // The server role: no server or worker starts on the folder until the restore is done.
      const embedded = await startEmbeddedDatabase(config.dataDir, log, { role: 'server' });
      try {
        const client = await oneLine(
          findPgClient(await serverMajor(embedded.url), process.env.LICENTRIC_PG_BIN || undefined),
        );
        const admin = new URL(embedded.url);
        const name = admin.pathname.slice(1);
        admin.pathname = '/postgres';
        await oneLine(restoreDatabase(client, admin.toString(), name, source));
      } finally {
        await embedded.stop();
      }
      // A backup of an older release is migrated now, and a secret that does not open its
      // signing keys is said now, as the server's start would.
      const runtime = await openRuntime(config, log, { poolSize: 1 });
      await runtime.close();
      process.stdout.write(`Restored ${source} into the embedded database in ${config.dataDir}; start the server.\n`);
      return 0;
    },
  },
};
