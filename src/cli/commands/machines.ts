import { writeFile } from 'node:fs/promises';
import { presentMachine, presentPage } from '../../http/presenters.ts';
import type { HeartbeatStatus } from '../../machines/heartbeat.ts';
import { booleanOption, integerOption, oneOf, PAGE_OPTIONS, pageOptions, text } from '../arguments.ts';
import { type Command, data } from '../command.ts';
import { output, pageFooter, table } from '../output.ts';

const MACHINE_HEARTBEAT_STATUSES = ['NOT_REQUIRED', 'ALIVE', 'DEAD'] as const satisfies readonly HeartbeatStatus[];

/** `licentric machines <verb>`. */
export const MACHINE_COMMANDS: Record<string, Command> = {
  'machines list': data({
    usage: `[--license LICENSE_ID] [--status ${MACHINE_HEARTBEAT_STATUSES.join('|')}] [--include-deactivated] [--cursor ID] [--limit N]`,
    summary: "--status is the machine's heartbeat status",
    options: {
      ...PAGE_OPTIONS,
      license: { type: 'string' },
      status: { type: 'string' },
      'include-deactivated': { type: 'boolean' },
    },
    async run({ values }, services) {
      const page = await services.machines.list({
        ...pageOptions(values),
        licenseId: text(values, 'license'),
        heartbeatStatus: oneOf<HeartbeatStatus>(values, 'status', MACHINE_HEARTBEAT_STATUSES),
        includeDeactivated: values['include-deactivated'] === true,
      });
      const now = services.clock.now();
      const body = presentPage(page, (m) => presentMachine(m, now));
      output(
        values,
        body,
        table([
          ['ID', 'FINGERPRINT', 'LICENSE', 'HEARTBEAT', 'LAST HEARTBEAT', 'DEACTIVATED', 'NAME'],
          ...body.data.map((m) => [
            m.id,
            m.fingerprint,
            m.licenseId,
            m.heartbeatStatus,
            m.lastHeartbeatAt ?? 'never',
            m.deletedAt ? `${m.deletedAt} (${m.deactivationReason})` : '',
            m.name ?? '',
          ]),
        ]) + pageFooter(page),
      );
    },
  }),

  'machines get': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const machine = presentMachine(await services.machines.get(id!), services.clock.now());
      output(values, machine, JSON.stringify(machine, null, 2));
    },
  }),

  'machines deactivate': data({
    usage: 'ID',
    summary: 'Frees its seat and its fingerprint; the machine stays readable',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      await services.machines.deactivate(id!);
      output(values, { id: id!.toLowerCase(), deleted: true }, `Deactivated machine ${id}.`);
    },
  }),

  'machines check-out': data({
    usage: 'ID [--ttl SECONDS|never] [--out FILE] [--license-key KEY] [--encrypt true|false]',
    summary:
      "A signed machine file, on stdout or in FILE. Encrypted only with --license-key (the server keeps only a hash of the key); --ttl defaults to the policy's checkOutTtl",
    options: {
      ttl: { type: 'string' },
      out: { type: 'string' },
      'license-key': { type: 'string' },
      encrypt: { type: 'string' },
    },
    takesId: true,
    async run({ values, id }, services) {
      const file = await services.checkOuts.machineFile(
        id!,
        { kind: 'apiKey' },
        {
          ttl: integerOption(values, 'ttl', 'never'),
          licenseKey: text(values, 'license-key'),
          encrypt: booleanOption(values, 'encrypt'),
        },
      );
      const out = text(values, 'out');
      if (out !== undefined) await writeFile(out, file.certificate, { mode: 0o600 });
      const summary = {
        id: file.id,
        machineId: file.subjectId,
        algorithm: file.algorithm,
        issued: file.issued.toISOString(),
        expiry: file.expiry?.toISOString() ?? null,
        ttl: file.ttl,
        keyId: file.keyId,
        ...(out === undefined ? { certificate: file.certificate } : { out }),
      };
      if (values.json) output(values, summary, '');
      else if (out === undefined) process.stdout.write(file.certificate);
      else
        process.stdout.write(
          `Wrote machine file ${file.id} to ${out} (${file.algorithm}, signed by ${file.keyId}, ${
            file.expiry ? `expires ${summary.expiry}` : 'never expires'
          }).\n`,
        );
    },
  }),
};
