import { Migration } from '@mikro-orm/migrations';

/**
 * Public-facing safety: the shared counter of failed authentications, and idempotency keys.
 *
 * `rate_limit_auth_failures` has exactly the columns rate-limiter-flexible's PostgreSQL store
 * expects (it is told the table exists, so it never creates one at runtime, which would need
 * DDL rights and race between replicas). Its rows expire by `expire` (epoch ms); the worker
 * deletes the expired ones.
 *
 * `idempotency_keys`: one row per (credential, key). `fingerprint` is a hash of the request;
 * `status` is null while the first request runs, then holds its response. The worker deletes
 * rows older than 24 h.
 */
export class Migration20261129000000_abuse extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table rate_limit_auth_failures (
        key varchar(255) primary key,
        points integer not null default 0,
        expire bigint
      )`);
    this.addSql(`
      create table idempotency_keys (
        scope text not null,
        key text not null,
        fingerprint text not null,
        created_at timestamptz(3) not null,
        status integer null,
        body text null,
        primary key (scope, key)
      )`);
    this.addSql('create index idempotency_keys_created_at_index on idempotency_keys (created_at)');
  }
}
