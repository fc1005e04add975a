import { LicenseNotFound } from '../../core/errors.ts';
import { pageQuery } from '../../core/pagination.ts';
import { presentPage, presentProcess, presentProcessHeartbeat } from '../presenters.ts';
import { licenseGone, licenseOf } from '../security.ts';
import type { Handlers } from '../types.ts';

export const processHandlers = {
  async spawnProcess({ path, body, principal, services }) {
    try {
      const process = await services.processes.spawn(licenseOf(principal).id, path.id, body);
      return { status: 201, body: { data: presentProcess(process, services.clock.now()) } };
    } catch (error) {
      if (error instanceof LicenseNotFound) throw licenseGone();
      throw error;
    }
  },

  async listProcesses({ query, services }) {
    const page = await services.processes.list({
      ...pageQuery(query),
      licenseId: query.licenseId,
      machineId: query.machineId,
    });
    const now = services.clock.now();
    return { status: 200, body: presentPage(page, (process) => presentProcess(process, now)) };
  },

  async getProcess({ path, services }) {
    const process = await services.processes.get(path.id);
    return { status: 200, body: { data: presentProcess(process, services.clock.now()) } };
  },

  async releaseProcess({ path, principal, services }) {
    const ownLicense = principal.kind === 'license' ? principal.license.id : undefined;
    await services.processes.release(path.id, ownLicense);
    return { status: 200, body: { data: { id: path.id.toLowerCase(), deleted: true } } };
  },

  async processHeartbeat({ path, principal, services }) {
    const beat = await services.processes.heartbeat(path.id, licenseOf(principal));
    return { status: 200, body: { data: presentProcessHeartbeat(beat) } };
  },
} satisfies Pick<Handlers, 'spawnProcess' | 'listProcesses' | 'getProcess' | 'releaseProcess' | 'processHeartbeat'>;
