import { Migration } from '@mikro-orm/migrations';

/**
 * Machine and license files (issue 19): a policy's default file lifetime and whether files that
 * never expire may be issued. Existing policies get Keygen's month and no never-expiring files:
 * no file existed before, so nothing they allowed changes.
 */
export class Migration20261206010000_check_out extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table policies
        add column check_out_ttl integer not null default 2592000
          check (check_out_ttl between 3600 and 315360000),
        add column allow_non_expiring_files boolean not null default false`);
  }
}
