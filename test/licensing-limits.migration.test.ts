import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { initOrm, type Orm } from '../src/db/orm.ts';
import { ENTITIES } from '../src/entities.ts';
import { lookupValidation } from '../src/licenses/validation-lookup.ts';
import { createLogger } from '../src/log.ts';

const log = createLogger('warn', process.stderr);
let orm: Orm | undefined;

afterAll(async () => {
  await orm?.close();
});

/** A fresh, empty database (not the migrated template). */
async function emptyDatabase(): Promise<string> {
  const url = new URL(inject('serverUrl'));
  const name = `${inject('databasePrefix')}${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  url.pathname = `/${name}`;
  return url.toString();
}

describe('the limits migration over a database made before it', () => {
  it('keeps every policy meaning what it meant and counts the cores machines already have', async () => {
    orm = await initOrm({ clientUrl: await emptyDatabase(), entities: ENTITIES, log, poolSize: 2 });
    await orm.migrator.up({ to: 'Migration20261129020000_hot_paths' });
    const em = orm.em.fork();
    const conn = em.getConnection();
    const policy = randomUUID();
    const license = randomUUID();
    await conn.execute(
      `insert into policies (id, name, max_machines, key_prefix, created_at, updated_at) values (?, 'old', 3, 'OLD', now(), now())`,
      [policy],
    );
    await conn.execute(
      `insert into licenses (id, policy_id, key_hash, created_at, updated_at) values (?, ?, ?, now(), now())`,
      [license, policy, randomBytes(32)],
    );
    // Active: 4 cores and an unsaid (1); deactivated: 16, which must not count.
    for (const [cores, deleted] of [
      [4, false],
      [null, false],
      [16, true],
    ] as const) {
      await conn.execute(
        `insert into machines (id, license_id, fingerprint, cores, metadata, last_heartbeat_at, created_at, updated_at, deleted_at, deactivation_reason)
         values (?, ?, ?, ?, '{}', now(), now(), now(), ${deleted ? "now(), 'MANUAL'" : 'null, null'})`,
        [randomUUID(), license, `fp-${randomBytes(6).toString('hex')}`, cores],
      );
    }

    expect((await orm.migrator.up()).map((m) => m.name)).toContain('Migration20261204020000_limits');

    const [stored] = await conn.execute(
      `select max_cores, overage_strategy, machine_uniqueness_strategy, product_id from policies where id = ?`,
      [policy],
    );
    expect(stored).toEqual({
      max_cores: null,
      overage_strategy: 'NO_OVERAGE',
      machine_uniqueness_strategy: 'UNIQUE_PER_LICENSE',
      product_id: null,
    });
    const row = await lookupValidation(orm.em.fork(), { licenseId: license, fingerprints: null, now: new Date() });
    expect({ machines: row.machine_count, cores: Number(row.core_count), max: row.max_machines }).toEqual({
      machines: 2,
      cores: 5,
      max: 3,
    });
    // The count trigger now keeps cores too.
    await conn.execute(
      `update machines set deleted_at = now(), deactivation_reason = 'MANUAL' where license_id = ? and cores = 4`,
      [license],
    );
    const after = await lookupValidation(orm.em.fork(), { licenseId: license, fingerprints: null, now: new Date() });
    expect({ machines: after.machine_count, cores: Number(after.core_count) }).toEqual({ machines: 1, cores: 1 });
  });
});
