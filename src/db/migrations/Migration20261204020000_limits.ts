import { Migration } from '@mikro-orm/migrations';

/**
 * Core limits, overage and machine uniqueness beyond the license (docs/licensing-models.md).
 * Every existing policy keeps meaning what it meant: no core limit, no overage, fingerprints
 * unique per license.
 *
 * - `licenses.core_count`: the cores of the license's active machines (a machine without `cores`
 *   counts as one), kept exactly as `machine_count` is (src/machines/machine-count.ts): the same
 *   trigger writes a core delta beside each machine delta, in the same row, and whoever folds one
 *   folds both. Validation and license reads stay O(1) at any fleet size. `bigint`: a machine may
 *   say up to 2^31-1 cores, and a license may have many.
 * - `licenses.overage_at`: when an activation first took the license over a limit. Set once, by
 *   that activation, under the license row lock, in the same transaction as its `license.overage`
 *   event: the event fires once per license however many activations race.
 * - `policies.product_id`: the scope of `UNIQUE_PER_PRODUCT`. Products arrive in their own
 *   migration, which owns the column and its foreign key; `if not exists` lets either run first.
 * - An index of active fingerprints, for the uniqueness checks across licenses.
 */
export class Migration20261204020000_limits extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table policies
        add column max_cores integer null check (max_cores > 0),
        add column overage_strategy text not null default 'NO_OVERAGE'
          check (overage_strategy in ('NO_OVERAGE', 'ALLOW_1_25X_OVERAGE', 'ALLOW_1_5X_OVERAGE', 'ALLOW_2X_OVERAGE', 'ALWAYS_ALLOW_OVERAGE')),
        add column machine_uniqueness_strategy text not null default 'UNIQUE_PER_LICENSE'
          check (machine_uniqueness_strategy in ('UNIQUE_PER_LICENSE', 'UNIQUE_PER_POLICY', 'UNIQUE_PER_PRODUCT', 'UNIQUE_PER_INSTANCE'))`);
    this.addSql('alter table policies add column if not exists product_id uuid null');

    this.addSql(`
      alter table licenses
        add column core_count bigint not null default 0,
        add column overage_at timestamptz(3) null`);
    this.addSql('alter table machine_count_deltas add column core_delta bigint not null default 0');
    // Pending deltas carry no cores, so the column alone is the whole sum.
    this.addSql(`
      update licenses l set core_count = c.cores
        from (select license_id, sum(coalesce(cores, 1)) as cores from machines where deleted_at is null group by license_id) c
       where l.id = c.license_id`);
    this.addSql(`
      create or replace function licentric_count_machines() returns trigger language plpgsql as $$
      begin
        if tg_op in ('UPDATE', 'DELETE') and old.deleted_at is null then
          insert into machine_count_deltas (license_id, delta, core_delta) values (old.license_id, -1, -coalesce(old.cores, 1));
        end if;
        if tg_op in ('UPDATE', 'INSERT') and new.deleted_at is null then
          insert into machine_count_deltas (license_id, delta, core_delta) values (new.license_id, 1, coalesce(new.cores, 1));
        end if;
        return null;
      end $$`);

    this.addSql('create index machines_active_fingerprint_index on machines (fingerprint) where deleted_at is null');
  }
}
