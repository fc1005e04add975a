import { HttpProblem } from '../problem.ts';
import { presentMachine } from '../presenters.ts';
import type { Handlers, Principal } from '../types.ts';

function licenseOf(principal: Principal) {
  // The spec lets only License auth reach these operations; anything else is a wiring fault.
  if (principal.kind !== 'license') throw new HttpProblem('INTERNAL_ERROR', 'expected license authentication');
  return principal.license;
}

export const machineHandlers = {
  async activateMachine({ body, principal, services }) {
    const machine = await services.machines.activate(licenseOf(principal).id, body);
    return { status: 201, body: { data: presentMachine(machine) } };
  },

  async listMachines({ query, services }) {
    const page = await services.machines.list({
      licenseId: query.licenseId,
      cursor: query.cursor,
      limit: query.limit ?? 25,
      includeDeactivated: query.includeDeactivated ?? false,
    });
    return {
      status: 200,
      body: {
        data: page.items.map(presentMachine),
        pagination: { nextCursor: page.nextCursor, hasMore: page.hasMore },
      },
    };
  },

  async getMachine({ path, services }) {
    const machine = await services.machines.get(path.id);
    return { status: 200, body: { data: presentMachine(machine) } };
  },

  async deactivateMachine({ path, principal, services }) {
    const ownLicense = principal.kind === 'license' ? principal.license.id : undefined;
    await services.machines.deactivate(path.id, ownLicense);
    return { status: 200, body: { data: { id: path.id, deleted: true } } };
  },

  async pingMachineHeartbeat({ path, principal, services }) {
    const beat = await services.machines.heartbeat(path.id, licenseOf(principal));
    return {
      status: 200,
      body: { data: { id: beat.id, lastHeartbeatAt: beat.lastHeartbeatAt.toISOString() } },
    };
  },
} satisfies Pick<Handlers, 'activateMachine' | 'listMachines' | 'getMachine' | 'deactivateMachine' | 'pingMachineHeartbeat'>;
