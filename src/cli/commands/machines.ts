import { presentMachine, presentPage } from '../../http/presenters.ts';
import type { HeartbeatStatus } from '../../machines/heartbeat.ts';
import { oneOf, PAGE_OPTIONS, pageOptions, text } from '../arguments.ts';
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
};
