import { Migration } from '@mikro-orm/migrations';

/**
 * Entitlements, attached to policies and to licenses by two join tables whose primary keys make
 * attaching twice one row however many requests race; and the policies' machine matching
 * strategy for validations with several fingerprints. Existing policies get MATCH_ANY, which is
 * what one fingerprint always meant, and have no entitlements.
 *
 * Deleting an entitlement deletes its rows (on delete cascade): an entitlement is detached
 * everywhere with it, so no validation reports a feature the vendor has withdrawn, and its code
 * is free for reuse.
 */
export class Migration20261204010000_entitlements extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table entitlements (
        id uuid primary key,
        code text not null,
        name text not null,
        metadata json not null default '{}',
        created_at timestamptz(3) not null,
        updated_at timestamptz(3) not null
      )`);
    this.addSql('create unique index entitlements_code_key on entitlements (code)');
    this.addSql(`
      create table policy_entitlements (
        policy_id uuid not null references policies (id),
        entitlement_id uuid not null references entitlements (id) on delete cascade,
        created_at timestamptz(3) not null,
        primary key (policy_id, entitlement_id)
      )`);
    this.addSql('create index policy_entitlements_entitlement_idx on policy_entitlements (entitlement_id)');
    this.addSql(`
      create table license_entitlements (
        license_id uuid not null references licenses (id),
        entitlement_id uuid not null references entitlements (id) on delete cascade,
        created_at timestamptz(3) not null,
        primary key (license_id, entitlement_id)
      )`);
    this.addSql('create index license_entitlements_entitlement_idx on license_entitlements (entitlement_id)');
    this.addSql(`
      alter table policies add column machine_matching_strategy text not null default 'MATCH_ANY'
        check (machine_matching_strategy in ('MATCH_ANY', 'MATCH_MOST', 'MATCH_ALL'))`);
  }
}
