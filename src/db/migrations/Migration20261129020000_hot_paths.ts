import { Migration } from '@mikro-orm/migrations';

/**
 * What the hot paths read instead of recomputing (bench/README.md):
 *
 * - The license's count of active machines, so that validation and license reads cost the same
 *   for a license of 5 machines as for one of 200 000. A trigger on machines records each change
 *   in the same transaction as every activation, deactivation, cull and license deletion,
 *   whichever code path or process writes, as a row of `machine_count_deltas`: inserts only,
 *   which take no lock anyone waits for. Updating the license row instead would make a cull
 *   (which holds machine rows) wait for licenses, while a license deletion holds its license and
 *   waits for those machines: a deadlock. The count is `licenses.machine_count` plus the
 *   license's deltas; whoever holds the license row anyway folds them in (an activation, the
 *   culling pass with SKIP LOCKED; src/machines/machine-count.ts). The trigger fires only when a
 *   machine's activeness can change, never on a heartbeat, so heartbeats stay HOT updates.
 * - `pg_notify('licentric_auth', …)` from the transaction that changes anything the
 *   authentication cache holds (src/keys/auth-cache.ts): a license's row (but not the count's
 *   own maintenance) or an API key's (but not its once-a-minute `last_used_at`); the cache holds
 *   no policy, which every hot path reads with its own statement. NOTIFY is
 *   delivered on commit and dropped on rollback, so every replica forgets exactly what changed.
 */
export class Migration20261129020000_hot_paths extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table licenses add column machine_count integer not null default 0');
    this.addSql(`
      update licenses l set machine_count = (select count(*) from machines m where m.license_id = l.id and m.deleted_at is null)`);
    this.addSql(`
      create table machine_count_deltas (
        license_id uuid not null references licenses (id),
        delta integer not null
      )`);
    this.addSql('create index machine_count_deltas_license_id_index on machine_count_deltas (license_id)');

    this.addSql(`
      create function licentric_count_machines() returns trigger language plpgsql as $$
      begin
        if tg_op in ('UPDATE', 'DELETE') and old.deleted_at is null then
          insert into machine_count_deltas (license_id, delta) values (old.license_id, -1);
        end if;
        if tg_op in ('UPDATE', 'INSERT') and new.deleted_at is null then
          insert into machine_count_deltas (license_id, delta) values (new.license_id, 1);
        end if;
        return null;
      end $$`);
    this.addSql(`
      create trigger machines_count_insert_delete after insert or delete on machines
        for each row execute function licentric_count_machines()`);
    // The culling pass writes its own deltas, one per license and batch (src/machines/cull.ts):
    // a row each for half a million culled machines doubled the pass's time.
    this.addSql(`
      create trigger machines_count_update after update of deleted_at, license_id on machines
        for each row when ((old.deleted_at is distinct from new.deleted_at or old.license_id is distinct from new.license_id)
                           and new.deactivation_reason is distinct from 'HEARTBEAT_DEAD')
        execute function licentric_count_machines()`);

    this.addSql(`
      create function licentric_notify_auth() returns trigger language plpgsql as $$
      begin
        perform pg_notify('licentric_auth', tg_table_name);
        return null;
      end $$`);
    // Every column but the count: an activation folding the count (even by nothing) notifies nobody.
    this.addSql(`
      create trigger licenses_auth_changed after update on licenses
        for each row when (
          row(old.policy_id, old.key_hash, old.key_hint, old.name, old.metadata::text, old.expires_at, old.suspended_at, old.created_at, old.updated_at, old.deleted_at)
          is distinct from
          row(new.policy_id, new.key_hash, new.key_hint, new.name, new.metadata::text, new.expires_at, new.suspended_at, new.created_at, new.updated_at, new.deleted_at))
        execute function licentric_notify_auth()`);
    this.addSql(`
      create trigger api_keys_auth_changed after update on api_keys
        for each row when (old.last_used_at is not distinct from new.last_used_at)
        execute function licentric_notify_auth()`);
    for (const table of ['licenses', 'api_keys']) {
      this.addSql(
        `create trigger ${table}_auth_deleted after delete on ${table} for each statement execute function licentric_notify_auth()`,
      );
    }
  }
}
