import { Migration } from '@mikro-orm/migrations';

/**
 * Revoked signing keys (issue 19): a key withdrawn after a compromise is no longer published and
 * what it signed should no longer be trusted. Only a retired key can be revoked (the active one
 * must be rotated away first), so a revoked key has both dates. The partial unique index that
 * allows one active key is untouched.
 */
export class Migration20261206000000_signing_key_revocation extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table signing_keys add column revoked_at timestamptz(3) null`);
    this.addSql(`alter table signing_keys drop constraint signing_keys_status_check`);
    this.addSql(`alter table signing_keys drop constraint signing_keys_check`);
    this.addSql(`
      alter table signing_keys
        add constraint signing_keys_status_check check (status in ('active', 'retired', 'revoked')),
        add constraint signing_keys_check check (
          (status = 'active' and retired_at is null and revoked_at is null)
          or (status = 'retired' and retired_at is not null and revoked_at is null)
          or (status = 'revoked' and retired_at is not null and revoked_at is not null))`);
  }
}
