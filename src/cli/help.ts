import { SCOPES } from '../keys/scopes.ts';
import { OVERAGE_STRATEGIES, UNIQUENESS_STRATEGIES } from '../policies/limits.ts';
import {
  CULL_STRATEGIES,
  EXPIRATION_BASES,
  EXPIRATION_STRATEGIES,
  MATCHING_STRATEGIES,
  PROCESS_LEASING_STRATEGIES,
  RENEWAL_BASES,
} from '../policies/policy.entity.ts';
import { FILE_COMMANDS } from './commands/verify.ts';
import { COMMANDS, GROUPS } from './commands.ts';

const GROUP_TITLES: Record<string, string> = {
  policies: 'Policies',
  licenses: 'Licenses',
  machines: 'Machines',
  'api-keys': 'API keys',
  'signing-keys': 'Signing keys',
  entitlements: 'Entitlements',
  processes: 'Processes',
};

/** Extra lines of a group's help. */
const GROUP_NOTES: Record<string, string> = {
  policies: `HEARTBEAT OPTIONS: --require-heartbeat true|false  --heartbeat-duration SECONDS
                   --heartbeat-cull-strategy ${CULL_STRATEGIES.join('|')}
                   --heartbeat-resurrection-window SECONDS
LIMIT OPTIONS: --max-cores N|none
               --overage-strategy ${OVERAGE_STRATEGIES.join('|')}
               --machine-uniqueness-strategy ${UNIQUENESS_STRATEGIES.join('|')}
EXPIRY OPTIONS: --duration SECONDS|none  --expiration-basis ${EXPIRATION_BASES.join('|')}
                --expiration-strategy ${EXPIRATION_STRATEGIES.join('|')}
                --renewal-basis ${RENEWAL_BASES.join('|')}
MATCHING: --matching-strategy ${MATCHING_STRATEGIES.join('|')} (how validate judges several fingerprints)
FILE OPTIONS: --check-out-ttl SECONDS (a machine or license file's default lifetime, 3600 to 315360000)
              --allow-non-expiring-files true|false
PROCESS OPTIONS: --max-processes N|none  --process-leasing-strategy ${PROCESS_LEASING_STRATEGIES.join('|')}
                 --process-heartbeat-duration SECONDS (concurrent seats: how many copies run at once)`,
  'api-keys': `Scopes: ${SCOPES.join(', ')}`,
};

function helpLines(names: string[]): string {
  return names
    .map((name) => {
      const { usage, summary } = COMMANDS[name]!;
      return `  licentric ${name}${usage ? ` ${usage}` : ''}${summary ? `\n      ${summary}` : ''}`;
    })
    .join('\n');
}

const OPTIONS_HELP = `Options:
  --json      Print the result as JSON, in the API's shapes (a new key or token appears only once)
  --help      Show help`;

export function groupHelp(group: string): string {
  const names = Object.keys(COMMANDS).filter((name) => name.startsWith(`${group} `));
  const notes = GROUP_NOTES[group] ? `\n\n${GROUP_NOTES[group]}` : '';
  return `Usage: licentric ${group} <command> [options]\n\n${helpLines(names)}${notes}\n\n${OPTIONS_HELP}`;
}

export function fullHelp(): string {
  const server = Object.keys(COMMANDS).filter((name) => !name.includes(' ') && !(name in FILE_COMMANDS));
  const groups = GROUPS.map(
    (group) =>
      `${GROUP_TITLES[group] ?? group}:\n${helpLines(Object.keys(COMMANDS).filter((n) => n.startsWith(`${group} `)))}`,
  );
  return `Usage: licentric <command> [options]

Server:
${helpLines(server)}

${groups.join('\n\n')}

Offline files:
${helpLines(Object.keys(FILE_COMMANDS))}

${GROUP_NOTES.policies}

${OPTIONS_HELP}

Scopes: ${SCOPES.join(', ')}
The database is the one \`make run\` uses: DATABASE_URL, or the embedded one under LICENTRIC_DATA_DIR.`;
}
