import { presentSigningKey } from '../../http/presenters.ts';
import type { SigningKey } from '../../offline/signing-keys.ts';
import { type Command, data } from '../command.ts';
import { output, table } from '../output.ts';

const date = (at: Date | null) => at?.toISOString() ?? '';

/** One key in one line: what an operator checks before baking a public key into a release. */
function describeKey(key: SigningKey): string {
  return `${key.id} (${key.status}), public key ${key.publicKey.toString('hex')}`;
}

/** `licentric signing-keys <verb>`. */
export const SIGNING_KEY_COMMANDS: Record<string, Command> = {
  'signing-keys list': data({
    usage: '',
    summary: 'Every signing key, revoked ones included (GET /signing-keys publishes all but those)',
    options: {},
    async run({ values }, services) {
      const keys = await services.signingKeys.list({ includeRevoked: true });
      output(
        values,
        keys.map(presentSigningKey),
        table([
          ['ID', 'STATUS', 'ACTIVATED', 'RETIRED', 'REVOKED', 'PUBLIC KEY'],
          ...keys.map((key) => [
            key.id,
            key.status,
            date(key.activatedAt),
            date(key.retiredAt),
            date(key.revokedAt),
            key.publicKey.toString('hex'),
          ]),
        ]),
      );
    },
  }),

  'signing-keys rotate': data({
    usage: '',
    summary: 'Make a new key the active one; the one it replaces is retired and stays published',
    options: {},
    async run({ values }, services) {
      const key = await services.signingKeys.rotate();
      output(values, presentSigningKey(key), `Rotated: the active signing key is now ${describeKey(key)}`);
    },
  }),

  'signing-keys retire': data({
    usage: 'ID',
    summary: 'Retire a key (the active one: rotate away from it); it stays published',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const key = await services.signingKeys.retire(id!);
      const active = (await services.signingKeys.list()).find((k) => k.status === 'active');
      output(
        values,
        presentSigningKey(key),
        `Retired signing key ${describeKey(key)}${active ? `\nThe active signing key is ${describeKey(active)}` : ''}`,
      );
    },
  }),

  'signing-keys revoke': data({
    usage: 'ID',
    summary: 'Withdraw a retired key after a compromise: no longer published, its files no longer trusted',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const key = await services.signingKeys.revoke(id!);
      output(values, presentSigningKey(key), `Revoked signing key ${describeKey(key)}`);
    },
  }),
};
