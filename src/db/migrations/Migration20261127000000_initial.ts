import { Migration } from '@mikro-orm/migrations';

/** Policies, licenses, API keys and machines: the Machines API's foundation. */
export class Migration20261127000000_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table policies (
        id uuid primary key,
        name text not null,
        max_machines integer null check (max_machines is null or max_machines >= 1),
        key_prefix text not null,
        metadata jsonb not null default '{}',
        created_at timestamptz(3) not null,
        updated_at timestamptz(3) not null
      )`);

    this.addSql(`
      create table licenses (
        id uuid primary key,
        policy_id uuid not null references policies (id),
        key_hash bytea not null unique,
        name text null,
        metadata jsonb not null default '{}',
        expires_at timestamptz(3) null,
        suspended_at timestamptz(3) null,
        created_at timestamptz(3) not null,
        updated_at timestamptz(3) not null
      )`);
    this.addSql('create index licenses_policy_id_index on licenses (policy_id)');

    this.addSql(`
      create table api_keys (
        id uuid primary key,
        name text not null,
        token_hash bytea not null unique,
        token_hint text not null,
        scopes text[] not null,
        expires_at timestamptz(3) null,
        revoked_at timestamptz(3) null,
        last_used_at timestamptz(3) null,
        created_at timestamptz(3) not null
      )`);

    this.addSql(`
      create table machines (
        id uuid primary key,
        license_id uuid not null references licenses (id),
        fingerprint text not null,
        name text null,
        platform text null check (platform in ('macos', 'windows', 'linux', 'docker', 'kubernetes')),
        hostname text null,
        cores integer null check (cores >= 1),
        metadata json not null default '{}',
        last_heartbeat_at timestamptz(3) not null,
        created_at timestamptz(3) not null,
        updated_at timestamptz(3) not null,
        deleted_at timestamptz(3) null
      )`);
    // The database, not application code, guarantees one active machine per fingerprint and license.
    this.addSql(`
      create unique index machines_active_fingerprint_unique
        on machines (license_id, fingerprint) where deleted_at is null`);
    // Serves "the machines of one license" in id (creation) order, for lists and limit counts.
    this.addSql('create index machines_license_id_id_index on machines (license_id, id)');
  }
}
