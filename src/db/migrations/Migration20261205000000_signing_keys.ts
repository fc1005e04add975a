import { Migration } from '@mikro-orm/migrations';

/**
 * Signing keys (issue 19): the Ed25519 key pairs that sign machine and license files and, later,
 * responses. The private key is stored only encrypted (`src/offline/signing-keys.ts` says how);
 * the first key is not made here, since SQL cannot know the server secret it is encrypted
 * under: `migrate` creates it under the same advisory lock, right after the migrations.
 *
 * One key is `active` (it signs); a `retired` key signs nothing but stays published, so files
 * signed before a rotation still verify. The partial unique index allows one active key, whatever
 * two processes do at once.
 */
export class Migration20261205000000_signing_keys extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table signing_keys (
        id uuid primary key,
        algorithm text not null default 'ed25519' check (algorithm = 'ed25519'),
        public_key bytea not null check (octet_length(public_key) = 32),
        private_key_encrypted bytea not null,
        status text not null check (status in ('active', 'retired')),
        created_at timestamptz(3) not null,
        activated_at timestamptz(3) not null,
        retired_at timestamptz(3) null,
        check ((status = 'retired') = (retired_at is not null))
      )`);
    this.addSql(`create unique index signing_keys_one_active on signing_keys ((true)) where status = 'active'`);
  }
}
