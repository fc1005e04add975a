import { Migration } from '@mikro-orm/migrations';

/**
 * Expiry by policy (issue 18): a policy's license `duration`, what it counts from, what an
 * expired license may still do, and what a renewal counts from. Every existing policy gets no
 * duration and today's rules (`RESTRICT_ACCESS`), so every existing license means what it meant.
 *
 * `licenses.expiry_pending` marks a license created under a first-activation or first-validation
 * basis whose expiry has not started yet. The first such event clears it in the same conditional
 * update that sets `expires_at`, so the expiry is set once however many events race; setting the
 * expiry by hand (an update, a renewal) clears it too, so a vendor's "never" stays never.
 */
export class Migration20261204030000_expiry extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table policies
        add column duration integer null check (duration between 60 and 1577880000),
        add column expiration_basis text not null default 'FROM_CREATION'
          check (expiration_basis in ('FROM_CREATION', 'FROM_FIRST_ACTIVATION', 'FROM_FIRST_VALIDATION')),
        add column expiration_strategy text not null default 'RESTRICT_ACCESS'
          check (expiration_strategy in ('RESTRICT_ACCESS', 'REVOKE_ACCESS', 'MAINTAIN_ACCESS')),
        add column renewal_basis text not null default 'FROM_NOW_IF_EXPIRED'
          check (renewal_basis in ('FROM_EXPIRY', 'FROM_NOW', 'FROM_NOW_IF_EXPIRED'))`);
    this.addSql('alter table licenses add column expiry_pending boolean not null default false');
  }
}
