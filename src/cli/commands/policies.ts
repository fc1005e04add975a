import { presentPage, presentPolicy } from '../../http/presenters.ts';
import type { UpdatePolicyInput } from '../../policies/policies.service.ts';
import {
  CULL_STRATEGIES,
  type HeartbeatCullStrategy,
  MATCHING_STRATEGIES,
  type MachineMatchingStrategy,
} from '../../policies/policy.entity.ts';
import {
  booleanOption,
  integerOption,
  type Options,
  oneOf,
  PAGE_OPTIONS,
  pageOptions,
  required,
  text,
  type Values,
} from '../arguments.ts';
import { type Command, data } from '../command.ts';
import { output, pageFooter, table } from '../output.ts';

const POLICY_OPTIONS: Options = {
  name: { type: 'string' },
  'max-machines': { type: 'string' },
  'key-prefix': { type: 'string' },
  'require-heartbeat': { type: 'string' },
  'heartbeat-duration': { type: 'string' },
  'heartbeat-cull-strategy': { type: 'string' },
  'heartbeat-resurrection-window': { type: 'string' },
  // Entitlements and machine matching (issue 18).
  'matching-strategy': { type: 'string' },
};

function policySettings(values: Values): UpdatePolicyInput {
  return {
    name: text(values, 'name'),
    maxMachines: integerOption(values, 'max-machines', 'none'),
    keyPrefix: text(values, 'key-prefix'),
    requireHeartbeat: booleanOption(values, 'require-heartbeat'),
    heartbeatDuration: integerOption(values, 'heartbeat-duration') ?? undefined,
    heartbeatCullStrategy: oneOf<HeartbeatCullStrategy>(values, 'heartbeat-cull-strategy', CULL_STRATEGIES),
    heartbeatResurrectionWindow: integerOption(values, 'heartbeat-resurrection-window') ?? undefined,
    // Entitlements and machine matching (issue 18).
    machineMatchingStrategy: oneOf<MachineMatchingStrategy>(values, 'matching-strategy', MATCHING_STRATEGIES),
  };
}

/** `licentric policies <verb>`. */
export const POLICY_COMMANDS: Record<string, Command> = {
  'policies create': data({
    usage: '--name NAME [--max-machines N] [--key-prefix PREFIX] [HEARTBEAT OPTIONS] [--matching-strategy S]',
    options: POLICY_OPTIONS,
    async run({ values }, services) {
      const policy = await services.policies.create({ ...policySettings(values), name: required(values, 'name') });
      output(
        values,
        presentPolicy(policy),
        `Created policy ${policy.id} ("${policy.name}", ${policy.maxMachines == null ? 'no machine limit' : `at most ${policy.maxMachines} machines`}, keys ${policy.keyPrefix}-…)`,
      );
    },
  }),

  'policies list': data({
    usage: '[--cursor ID] [--limit N]',
    options: PAGE_OPTIONS,
    async run({ values }, services) {
      const page = await services.policies.list(pageOptions(values));
      output(
        values,
        presentPage(page, presentPolicy),
        table([
          ['ID', 'NAME', 'MAX MACHINES', 'KEY PREFIX', 'HEARTBEAT'],
          ...page.items.map((p) => [
            p.id,
            p.name,
            String(p.maxMachines ?? 'none'),
            p.keyPrefix,
            p.requireHeartbeat ? `every ${p.heartbeatDuration}s, ${p.heartbeatCullStrategy}` : 'not required',
          ]),
        ]) + pageFooter(page),
      );
    },
  }),

  'policies get': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      const policy = presentPolicy(await services.policies.get(id!));
      output(values, policy, JSON.stringify(policy, null, 2));
    },
  }),

  'policies update': data({
    usage: 'ID [--name NAME] [--max-machines N|none] [--key-prefix PREFIX] [HEARTBEAT OPTIONS] [--matching-strategy S]',
    options: POLICY_OPTIONS,
    takesId: true,
    async run({ values, id }, services) {
      const policy = await services.policies.update(id!, policySettings(values));
      output(values, presentPolicy(policy), `Updated policy ${policy.id}.`);
    },
  }),

  'policies delete': data({
    usage: 'ID',
    options: {},
    takesId: true,
    async run({ values, id }, services) {
      await services.policies.delete(id!);
      output(values, { id, deleted: true }, `Deleted policy ${id}.`);
    },
  }),
};
