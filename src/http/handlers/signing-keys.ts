import { presentSigningKey } from '../presenters.ts';
import type { Handlers } from '../types.ts';

export const signingKeyHandlers = {
  async listSigningKeys({ services }) {
    return { status: 200, body: { data: (await services.signingKeys.list()).map(presentSigningKey) } };
  },

  async rotateSigningKey({ services }) {
    return { status: 201, body: { data: presentSigningKey(await services.signingKeys.rotate()) } };
  },

  async retireSigningKey({ path, services }) {
    return { status: 200, body: { data: presentSigningKey(await services.signingKeys.retire(path.id)) } };
  },

  async revokeSigningKey({ path, services }) {
    return { status: 200, body: { data: presentSigningKey(await services.signingKeys.revoke(path.id)) } };
  },
} satisfies Pick<Handlers, 'listSigningKeys' | 'rotateSigningKey' | 'retireSigningKey' | 'revokeSigningKey'>;
