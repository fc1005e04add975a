import { Migration } from '@mikro-orm/migrations';

/**
 * Secrets at rest and the rotation of the server secret (src/core/sealing.ts, src/runtime.ts).
 *
 * - Every keyed hash and every seal records the id of the secret that made it. Rows made before
 *   this migration have none (null); SQL cannot know the secret, so the first start after it
 *   records in `legacy_secret` which secret of its ring that was (the one that opens the signing
 *   keys), and null reads as that id. No large table is rewritten on upgrade: a license's id is
 *   set when it is re-hashed.
 * - Webhook signing secrets are sealed (`secret_sealed`, `previous_secret_sealed`). The plain
 *   columns stay, nullable, for rows written before the upgrade (or by an older replica during a
 *   rolling one): each start seals what it finds there and clears it, and the reader accepts both.
 */
export class Migration20261207010000_secrets_at_rest extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table licenses add column key_secret_id text null');
    this.addSql('alter table api_keys add column token_secret_id text null');
    this.addSql('alter table signing_keys add column secret_id text null');
    this.addSql('alter table idempotency_keys add column secret_id text null');
    this.addSql(`
      alter table webhook_endpoints
        add column secret_sealed bytea null,
        add column previous_secret_sealed bytea null,
        add column secret_id text null,
        alter column secret drop not null`);
    this.addSql(`
      create table legacy_secret (
        singleton boolean primary key default true check (singleton),
        secret_id text not null
      )`);
  }
}
