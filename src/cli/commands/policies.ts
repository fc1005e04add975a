import { presentPage, presentPolicy } from '../../http/presenters.ts';
import {
  type MachineUniquenessStrategy,
  OVERAGE_STRATEGIES,
  type OverageStrategy,
  UNIQUENESS_STRATEGIES,
} from '../../policies/limits.ts';
import type { UpdatePolicyInput } from '../../policies/policies.service.ts';
import {
  CULL_STRATEGIES,
  EXPIRATION_BASES,
  EXPIRATION_STRATEGIES,
  type ExpirationBasis,
  type ExpirationStrategy,
  type HeartbeatCullStrategy,
  MATCHING_STRATEGIES,
  type MachineMatchingStrategy,
  PROCESS_LEASING_STRATEGIES,
  type ProcessLeasingStrategy,
  RENEWAL_BASES,
  type RenewalBasis,
} from '../../policies/policy.entity.ts';
import type { Services } from '../../services.ts';
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
import { productOption } from './products.ts';

const POLICY_OPTIONS: Options = {
  name: { type: 'string' },
  'max-machines': { type: 'string' },
  'key-prefix': { type: 'string' },
  'require-heartbeat': { type: 'string' },
  'heartbeat-duration': { type: 'string' },
  'heartbeat-cull-strategy': { type: 'string' },
  'heartbeat-resurrection-window': { type: 'string' },
  // Limits and overage (issue 18).
  'max-cores': { type: 'string' },
  'overage-strategy': { type: 'string' },
  'machine-uniqueness-strategy': { type: 'string' },
  // Products (issue 18).
  product: { type: 'string' },
  // Expiry, duration and renewal (issue 18).
  duration: { type: 'string' },
  'expiration-basis': { type: 'string' },
  'expiration-strategy': { type: 'string' },
  'renewal-basis': { type: 'string' },
  // Entitlements and machine matching (issue 18).
  'matching-strategy': { type: 'string' },
  // Machine and license files (issue 19).
  'check-out-ttl': { type: 'string' },
  'allow-non-expiring-files': { type: 'string' },
  // Processes: concurrent seats (issue 20).
  'max-processes': { type: 'string' },
  'process-leasing-strategy': { type: 'string' },
  'process-heartbeat-duration': { type: 'string' },
};

async function policySettings(values: Values, services: Services): Promise<UpdatePolicyInput> {
  return {
    // Products (issue 18).
    productId: await productOption(values, services, 'none'),
    name: text(values, 'name'),
    maxMachines: integerOption(values, 'max-machines', 'none'),
    keyPrefix: text(values, 'key-prefix'),
    requireHeartbeat: booleanOption(values, 'require-heartbeat'),
    heartbeatDuration: integerOption(values, 'heartbeat-duration') ?? undefined,
    heartbeatCullStrategy: oneOf<HeartbeatCullStrategy>(values, 'heartbeat-cull-strategy', CULL_STRATEGIES),
    heartbeatResurrectionWindow: integerOption(values, 'heartbeat-resurrection-window') ?? undefined,
    // Limits and overage (issue 18).
    maxCores: integerOption(values, 'max-cores', 'none'),
    overageStrategy: oneOf<OverageStrategy>(values, 'overage-strategy', OVERAGE_STRATEGIES),
    machineUniquenessStrategy: oneOf<MachineUniquenessStrategy>(
      values,
      'machine-uniqueness-strategy',
      UNIQUENESS_STRATEGIES,
    ),
    // Expiry, duration and renewal (issue 18).
    duration: integerOption(values, 'duration', 'none'),
    expirationBasis: oneOf<ExpirationBasis>(values, 'expiration-basis', EXPIRATION_BASES),
    expirationStrategy: oneOf<ExpirationStrategy>(values, 'expiration-strategy', EXPIRATION_STRATEGIES),
    renewalBasis: oneOf<RenewalBasis>(values, 'renewal-basis', RENEWAL_BASES),
    // Entitlements and machine matching (issue 18).
    machineMatchingStrategy: oneOf<MachineMatchingStrategy>(values, 'matching-strategy', MATCHING_STRATEGIES),
    // Machine and license files (issue 19).
    checkOutTtl: integerOption(values, 'check-out-ttl') ?? undefined,
    allowNonExpiringFiles: booleanOption(values, 'allow-non-expiring-files'),
    // Processes: concurrent seats (issue 20).
    maxProcesses: integerOption(values, 'max-processes', 'none'),
    processLeasingStrategy: oneOf<ProcessLeasingStrategy>(
      values,
      'process-leasing-strategy',
      PROCESS_LEASING_STRATEGIES,
    ),
    processHeartbeatDuration: integerOption(values, 'process-heartbeat-duration') ?? undefined,
  };
}

/** `licentric policies <verb>`. */
export const POLICY_COMMANDS: Record<string, Command> = {
  'policies create': data({
    usage:
      '--name NAME [--max-machines N] [--key-prefix PREFIX] [--product ID|CODE] [HEARTBEAT OPTIONS] [LIMIT OPTIONS] [EXPIRY OPTIONS] [--matching-strategy S] [FILE OPTIONS] [PROCESS OPTIONS]',
    options: POLICY_OPTIONS,
    async run({ values }, services) {
      const policy = await services.policies.create({
        ...(await policySettings(values, services)),
        name: required(values, 'name'),
      });
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
          ['ID', 'NAME', 'MAX MACHINES', 'KEY PREFIX', 'HEARTBEAT', 'PRODUCT'],
          ...page.items.map((p) => [
            p.id,
            p.name,
            String(p.maxMachines ?? 'none'),
            p.keyPrefix,
            p.requireHeartbeat ? `every ${p.heartbeatDuration}s, ${p.heartbeatCullStrategy}` : 'not required',
            p.productId ?? '',
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
    usage:
      'ID [--name NAME] [--max-machines N|none] [--key-prefix PREFIX] [--product ID|CODE|none] [HEARTBEAT OPTIONS] [LIMIT OPTIONS] [EXPIRY OPTIONS] [--matching-strategy S] [FILE OPTIONS] [PROCESS OPTIONS]',
    options: POLICY_OPTIONS,
    takesId: true,
    async run({ values, id }, services) {
      const policy = await services.policies.update(id!, await policySettings(values, services));
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
