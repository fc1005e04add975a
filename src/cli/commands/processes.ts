import { presentPage, presentProcess } from '../../http/presenters.ts';
import { PAGE_OPTIONS, pageOptions, text } from '../arguments.ts';
import { type Command, data } from '../command.ts';
import { output, pageFooter, table } from '../output.ts';

/** `licentric processes <verb>`: the leases running copies hold on concurrent seats. */
export const PROCESSES_COMMANDS: Record<string, Command> = {
  'processes list': data({
    usage: '[--license LICENSE_ID] [--machine MACHINE_ID] [--cursor ID] [--limit N]',
    summary: 'Running processes (concurrent seats), oldest first',
    options: { ...PAGE_OPTIONS, license: { type: 'string' }, machine: { type: 'string' } },
    async run({ values }, services) {
      const page = await services.processes.list({
        ...pageOptions(values),
        licenseId: text(values, 'license'),
        machineId: text(values, 'machine'),
      });
      const now = services.clock.now();
      const body = presentPage(page, (p) => presentProcess(p, now));
      output(
        values,
        body,
        table([
          ['ID', 'MACHINE', 'LICENSE', 'PID', 'HEARTBEAT', 'LEASE EXPIRES'],
          ...body.data.map((p) => [p.id, p.machineId, p.licenseId, p.pid ?? '', p.heartbeatStatus, p.nextHeartbeatAt]),
        ]) + pageFooter(page),
      );
    },
  }),

  'processes get': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const process = presentProcess(await services.processes.get(id!), services.clock.now());
      output(values, process, JSON.stringify(process, null, 2));
    },
  }),

  'processes release': data({
    usage: 'ID',
    summary: 'Frees its seat at once',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      await services.processes.release(id!);
      output(values, { id: id!.toLowerCase(), deleted: true }, `Released process ${id}.`);
    },
  }),
};
