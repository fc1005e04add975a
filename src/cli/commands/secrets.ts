import { createLogger } from '../../log.ts';
import { openRuntime, rotateCheck } from '../../runtime.ts';
import type { Command } from '../command.ts';
import { output, table } from '../output.ts';

/** `licentric secrets <verb>`: the server secret's rotation. */
export const SECRETS_COMMANDS: Record<string, Command> = {
  'secrets rotate-check': {
    usage: '',
    summary: 'What still depends on a former LICENTRIC_SECRET, per kind and secret id; exits 1 while anything does',
    options: {},
    async run({ values }, config) {
      const log = createLogger(config.logLevel, process.stderr);
      // Opening re-seals what the ring can open (as every start does); what is left is listed.
      const runtime = await openRuntime(config, log, { poolSize: 2 });
      try {
        const ring = runtime.secrets;
        const dependants = await rotateCheck(runtime.orm.em.fork(), ring);
        const current = ring.current.id;
        const lines = [
          `Current secret: ${current}${ring.previous.length > 0 ? `; previous: ${ring.previous.map((s) => s.id).join(', ')}` : ''}`,
        ];
        if (dependants.length === 0) {
          lines.push('Nothing depends on a former secret: LICENTRIC_PREVIOUS_SECRETS can be emptied.');
        } else {
          lines.push(
            table([
              ['KIND', 'SECRET ID', 'IN RING', 'COUNT'],
              ...dependants.map((d) => [d.kind, d.secretId, d.inRing ? 'yes' : 'no', String(d.count)]),
            ]),
          );
          lines.push(
            'Hashes move when their key is next used; sealed rows move on every start. ' +
              'Keep the former secrets in LICENTRIC_PREVIOUS_SECRETS until this reports nothing.',
          );
        }
        output(
          values,
          { currentSecretId: current, previousSecretIds: ring.previous.map((s) => s.id), dependants },
          lines.join('\n'),
        );
        return dependants.length === 0 ? 0 : 1;
      } finally {
        await runtime.close();
      }
    },
  },
};
