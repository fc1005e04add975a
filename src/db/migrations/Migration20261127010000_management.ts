import { Migration } from '@mikro-orm/migrations';

/**
 * The management API: policies gain their heartbeat settings and a soft delete, licenses a key
 * hint and a soft delete, machines the reason they were deactivated.
 */
export class Migration20261127010000_management extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table policies
        add column require_heartbeat boolean not null default false,
        add column heartbeat_duration integer not null default 600
          check (heartbeat_duration between 60 and 2592000),
        add column heartbeat_cull_strategy text not null default 'DEACTIVATE_DEAD'
          check (heartbeat_cull_strategy in ('DEACTIVATE_DEAD', 'KEEP_DEAD')),
        add column heartbeat_resurrection_window integer not null default 0
          check (heartbeat_resurrection_window between 0 and 2592000),
        add column deleted_at timestamptz(3) null`);

    // Metadata as json, as machines have it: jsonb refuses the escape \u0000, which is valid
    // JSON that a client may send.
    for (const table of ['policies', 'licenses']) {
      this.addSql(`
        alter table ${table}
          alter column metadata drop default,
          alter column metadata type json using metadata::json,
          alter column metadata set default '{}'`);
    }

    this.addSql(`
      alter table licenses
        add column key_hint text not null default '',
        add column deleted_at timestamptz(3) null`);
    // "Does this policy still have licenses?" and "the licenses of a policy" look only at live ones.
    this.addSql('drop index licenses_policy_id_index');
    this.addSql('create index licenses_live_policy_id_index on licenses (policy_id, id) where deleted_at is null');

    this.addSql(`
      alter table machines
        add column deactivation_reason text null
          check (deactivation_reason in ('MANUAL', 'HEARTBEAT_DEAD', 'LICENSE_DELETED'))`);
    this.addSql(`update machines set deactivation_reason = 'MANUAL' where deleted_at is not null`);
    this.addSql(`
      alter table machines add constraint machines_deactivation_reason_check_set
        check ((deleted_at is null) = (deactivation_reason is null))`);
  }
}
