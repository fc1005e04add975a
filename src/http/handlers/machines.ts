import { DEFAULT_PAGE_SIZE } from '../../core/pagination.ts';
import { LicenseNotFound } from '../../core/errors.ts';
import { HttpProblem } from '../problem.ts';
import { presentMachine, presentPage } from '../presenters.ts';
import type { Handlers, Principal } from '../types.ts';

function licenseOf(principal: Principal) {
  // The spec lets only License auth reach these operations; anything else is a wiring fault.
  if (principal.kind !== 'license') throw new HttpProblem('INTERNAL_ERROR', 'expected license authentication');
  return principal.license;
}

export const machineHandlers = {
  async activateMachine({ body, principal, services }) {
    try {
      const machine = await services.machines.activate(licenseOf(principal).id, body);
      return { status: 201, body: { data: presentMachine(machine, services.clock.now()) } };
    } catch (error) {
      if (error instanceof LicenseNotFound) {
        throw new HttpProblem('INVALID_CREDENTIALS', 'The license was deleted.', { 'WWW-Authenticate': 'License realm="licentric"' });
      }
      throw error;
    }
  },

  async listMachines({ query, services }) {
    const page = await services.machines.list({
      licenseId: query.licenseId,
      cursor: query.cursor,
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      includeDeactivated: query.includeDeactivated ?? false,
      heartbeatStatus: query.heartbeatStatus,
    });
    const now = services.clock.now();
    return { status: 200, body: presentPage(page, (machine) => presentMachine(machine, now)) };
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
    return {
      status: 200,
      body: {
        data: {
          id: beat.id,
          lastHeartbeatAt: beat.lastHeartbeatAt.toISOString(),
          heartbeatStatus: beat.status,
          nextHeartbeatAt: beat.nextHeartbeatAt?.toISOString() ?? null,
        },
      },
    };
  },
} satisfies Pick<Handlers, 'activateMachine' | 'listMachines' | 'getMachine' | 'deactivateMachine' | 'pingMachineHeartbeat'>;
