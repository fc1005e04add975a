import { LicenseNotFound } from '../../core/errors.ts';
import { pageQuery } from '../../core/pagination.ts';
import { presentHeartbeat, presentMachine, presentPage } from '../presenters.ts';
import { licenseGone, licenseOf } from '../security.ts';
import type { Handlers } from '../types.ts';

export const machineHandlers = {
  async activateMachine({ body, principal, services }) {
    try {
      const machine = await services.machines.activate(licenseOf(principal).id, body);
      return { status: 201, body: { data: presentMachine(machine, services.clock.now()) } };
    } catch (error) {
      if (error instanceof LicenseNotFound) throw licenseGone();
      throw error;
    }
  },

  async listMachines({ query, services }) {
    const page = await services.machines.list({
      ...pageQuery(query),
      licenseId: query.licenseId,
      includeDeactivated: query.includeDeactivated ?? false,
      heartbeatStatus: query.heartbeatStatus,
    });
    const now = services.clock.now();
    return { status: 200, body: presentPage(page, (machine) => presentMachine(machine, now)) };
  },

  async listMachineReviewQueue({ query, services }) {
    const queue = await services.machines.reviewQueue(pageQuery(query));
    const now = services.clock.now();
    const meta =
      queue.hasMore && queue.nextCursor !== null
        ? { waiting: queue.waiting, nextCursor: queue.nextCursor }
        : { waiting: queue.waiting };
    return { status: 200, body: { data: queue.items.map((machine) => presentMachine(machine, now)), meta } };
  },

  async getMachine({ path, services }) {
    const machine = await services.machines.get(path.id);
    return { status: 200, body: { data: presentMachine(machine, services.clock.now()) } };
  },

  async deactivateMachine({ path, principal, services }) {
    const ownLicense = principal.kind === 'license' ? principal.license.id : undefined;
    await services.machines.deactivate(path.id, ownLicense);
    return { status: 200, body: { data: { id: path.id.toLowerCase(), deleted: true } } };
  },

  async pingMachineHeartbeat({ path, principal, services }) {
    const beat = await services.machines.heartbeat(path.id, licenseOf(principal));
    return { status: 200, body: { data: presentHeartbeat(beat) } };
  },
} satisfies Pick<
  Handlers,
  | 'activateMachine'
  | 'listMachines'
  | 'listMachineReviewQueue'
  | 'getMachine'
  | 'deactivateMachine'
  | 'pingMachineHeartbeat'
>;
