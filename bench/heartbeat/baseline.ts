/**
 * The floor to compare the real server with: `node:http` and a `pg` pool, nothing else, doing
 * what each hot operation must do in the database, the naive way — a key check per request
 * (canonical key, HMAC-SHA-256 with the server secret, one lookup of the live license with its
 * policy), then:
 *
 * - heartbeat: the same heartbeat statement as MachinesService.heartbeat();
 * - process heartbeat: the same statement as ProcessesService.heartbeat(), one per request;
 * - validate (with a fingerprint): count the license's active machines, find the machine;
 * - activate: in a transaction, lock the license, look for the fingerprint, count the machines
 *   against the limit, insert.
 *
 * No framework, no request validation, no ORM, no logging, no cache. Whatever the real server
 * spends beyond this is the cost of those; where it spends less, it does less work.
 *
 *   DATABASE_URL=… LICENTRIC_SECRET=… PORT=… node bench/heartbeat/baseline.ts
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';
import { isUuid, uuidv7 } from '../../src/core/ids.ts';
import { KeyHasher } from '../../src/keys/hashing.ts';
import { parseLicenseKey } from '../../src/keys/license-key.ts';
import {
  type BeatRow,
  heartbeatStatement,
  type ProcessBeatRow,
  processHeartbeatStatement,
} from '../../src/machines/heartbeat-batch.ts';

const LICENSE_SQL = `
  select l.id, l.key_hash, l.expires_at, l.suspended_at,
         p.max_machines, p.require_heartbeat, p.heartbeat_duration, p.heartbeat_resurrection_window
    from licenses l join policies p on p.id = l.policy_id
   where l.key_hash = $1 and l.deleted_at is null`;

/** `?` placeholders (the ORM's) as `$n` (pg's), in order. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const PATH = /^\/api\/v1\/machines\/([^/?]+)\/heartbeat$/;
const PROCESS_PATH = /^\/api\/v1\/processes\/([^/?]+)\/heartbeat$/;
const COUNT_SQL = 'select count(*)::int as n from machines where license_id = $1 and deleted_at is null';
const MACHINE_SQL = `select * from machines where license_id = $1 and fingerprint = $2 and deleted_at is null`;
const AUTHORIZATION = /^License +(\S+)\s*$/i;

const hasher = new KeyHasher(process.env.LICENTRIC_SECRET!);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

function reply(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

const problem = (res: ServerResponse, status: number, code: string) => reply(res, status, { status, code });

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        resolve(
          chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>),
        );
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}

const server = createServer((req, res) => {
  const fail = (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    problem(res, 500, 'INTERNAL_ERROR');
  };
  if (req.url === '/readyz') return reply(res, 200, { status: 'ok' });
  if (req.method === 'POST' && req.url === '/api/v1/licenses/actions/validate') {
    return void readBody(req)
      .then((body) => validate(res, body, req.headers.authorization))
      .catch(fail);
  }
  if (req.method === 'POST' && req.url === '/api/v1/machines') {
    return void readBody(req)
      .then((body) => activate(res, body, req.headers.authorization))
      .catch(fail);
  }
  req.resume();
  const beat = req.method === 'POST' ? PROCESS_PATH.exec(req.url ?? '') : null;
  if (beat) return void processHeartbeat(res, decodeURIComponent(beat[1]!), req.headers.authorization).catch(fail);
  const match = req.method === 'POST' ? PATH.exec(req.url ?? '') : null;
  if (!match) return problem(res, 404, 'NOT_FOUND');
  heartbeat(res, decodeURIComponent(match[1]!), req.headers.authorization).catch(fail);
});

interface LicenseRow {
  id: string;
  key_hash: Buffer;
  expires_at: Date | null;
  suspended_at: Date | null;
  max_machines: number | null;
  require_heartbeat: boolean;
  heartbeat_duration: number;
}

/** The live license of the request's key, or null once the 401 is sent. */
async function authenticate(res: ServerResponse, authorization: string | undefined): Promise<LicenseRow | null> {
  const presented = authorization === undefined ? undefined : AUTHORIZATION.exec(authorization)?.[1];
  const canonical = presented === undefined ? null : parseLicenseKey(presented);
  if (canonical === null) {
    problem(res, 401, 'INVALID_CREDENTIALS');
    return null;
  }
  const hash = hasher.hash('license-key', canonical);
  const {
    rows: [license],
  } = await pool.query<LicenseRow>(LICENSE_SQL, [hash]);
  if (!license || !KeyHasher.equal(license.key_hash, hash)) {
    problem(res, 401, 'INVALID_CREDENTIALS');
    return null;
  }
  return license;
}

function refused(res: ServerResponse, license: LicenseRow, now: Date): boolean {
  if (license.suspended_at !== null) problem(res, 403, 'LICENSE_SUSPENDED');
  else if (license.expires_at !== null && license.expires_at.getTime() <= now.getTime())
    problem(res, 403, 'LICENSE_EXPIRED');
  else return false;
  return true;
}

function machineJson(m: Record<string, unknown> & { last_heartbeat_at: Date }, license: LicenseRow, now: Date) {
  const next = license.require_heartbeat
    ? new Date(m.last_heartbeat_at.getTime() + license.heartbeat_duration * 1000)
    : null;
  return {
    id: m.id,
    licenseId: m.license_id,
    fingerprint: m.fingerprint,
    name: m.name,
    platform: m.platform,
    hostname: m.hostname,
    cores: m.cores,
    lastHeartbeatAt: m.last_heartbeat_at.toISOString(),
    createdAt: (m.created_at as Date).toISOString(),
    updatedAt: (m.updated_at as Date).toISOString(),
    deletedAt: null,
    metadata: m.metadata,
    heartbeatStatus: next === null ? 'NOT_REQUIRED' : now < next ? 'ALIVE' : 'DEAD',
    nextHeartbeatAt: next?.toISOString() ?? null,
    deactivationReason: null,
  };
}

async function validate(
  res: ServerResponse,
  body: Record<string, unknown>,
  authorization: string | undefined,
): Promise<void> {
  const license = await authenticate(res, authorization);
  if (!license) return;
  const now = new Date();
  const n = (await pool.query<{ n: number }>(COUNT_SQL, [license.id])).rows[0]!.n;
  const fingerprint = typeof body.fingerprint === 'string' ? body.fingerprint : undefined;
  const {
    rows: [machine],
  } = fingerprint === undefined ? { rows: [] } : await pool.query(MACHINE_SQL, [license.id, fingerprint]);
  const status = license.suspended_at !== null ? 'SUSPENDED' : 'ACTIVE';
  reply(res, 200, {
    data: {
      valid: machine !== undefined && status === 'ACTIVE',
      code: machine !== undefined ? 'VALID' : 'FINGERPRINT_NOT_ACTIVATED',
      license: { id: license.id, status, machineCount: n },
      machine: machine === undefined ? null : machineJson(machine, license, now),
    },
  });
}

async function activate(
  res: ServerResponse,
  body: Record<string, unknown>,
  authorization: string | undefined,
): Promise<void> {
  const license = await authenticate(res, authorization);
  if (!license) return;
  const now = new Date();
  if (refused(res, license, now)) return;
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('select id from licenses where id = $1 for update', [license.id]);
    const {
      rows: [holder],
    } = await client.query(MACHINE_SQL, [license.id, body.fingerprint]);
    if (holder) {
      await client.query('rollback');
      return problem(res, 409, 'FINGERPRINT_TAKEN');
    }
    const n = (await client.query<{ n: number }>(COUNT_SQL, [license.id])).rows[0]!.n;
    if (license.max_machines !== null && n >= license.max_machines) {
      await client.query('rollback');
      return problem(res, 422, 'MACHINE_LIMIT_EXCEEDED');
    }
    const {
      rows: [machine],
    } = await client.query(
      `insert into machines (id, license_id, fingerprint, name, metadata, last_heartbeat_at, created_at, updated_at)
       values ($1, $2, $3, $4, '{}', $5, $5, $5) returning *`,
      [uuidv7(), license.id, body.fingerprint, body.name ?? null, now],
    );
    await client.query('commit');
    reply(res, 201, { data: machineJson(machine, license, now) });
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
}

async function heartbeat(res: ServerResponse, id: string, authorization: string | undefined): Promise<void> {
  const license = await authenticate(res, authorization);
  if (!license) return;
  if (!isUuid(id)) return problem(res, 404, 'MACHINE_NOT_FOUND');
  const now = new Date();
  if (refused(res, license, now)) return;

  // MachinesService.heartbeat()'s own statement, for this one beat, with pg's placeholders.
  const statement = heartbeatStatement([{ id, licenseId: license.id, now }]);
  const {
    rows: [row],
  } = await pool.query<BeatRow>(numbered(statement.text), [...statement.values]);
  if (!row) return problem(res, 404, 'MACHINE_NOT_FOUND');
  if (!row.beaten) return problem(res, 422, 'MACHINE_HEARTBEAT_DEAD');
  const next = row.require_heartbeat ? new Date(now.getTime() + row.heartbeat_duration * 1000) : null;
  const wasDead = next !== null && now.getTime() >= row.previous.getTime() + row.heartbeat_duration * 1000;
  reply(res, 200, {
    data: {
      id: id.toLowerCase(),
      lastHeartbeatAt: now.toISOString(),
      heartbeatStatus: !row.require_heartbeat ? 'NOT_REQUIRED' : wasDead ? 'RESURRECTED' : 'ALIVE',
      nextHeartbeatAt: next?.toISOString() ?? null,
    },
  });
}

async function processHeartbeat(res: ServerResponse, id: string, authorization: string | undefined): Promise<void> {
  const license = await authenticate(res, authorization);
  if (!license) return;
  if (!isUuid(id)) return problem(res, 404, 'PROCESS_NOT_FOUND');
  const now = new Date();
  if (refused(res, license, now)) return;

  // ProcessesService.heartbeat()'s own statement, for this one beat, with pg's placeholders.
  const statement = processHeartbeatStatement([{ id, licenseId: license.id, now }]);
  const {
    rows: [row],
  } = await pool.query<ProcessBeatRow>(numbered(statement.text), [...statement.values]);
  if (!row) return problem(res, 404, 'PROCESS_NOT_FOUND');
  if (!row.beaten) return problem(res, 422, 'PROCESS_HEARTBEAT_DEAD');
  reply(res, 200, {
    data: {
      id: id.toLowerCase(),
      lastHeartbeatAt: now.toISOString(),
      heartbeatStatus: 'ALIVE',
      nextHeartbeatAt: new Date(now.getTime() + row.process_heartbeat_duration * 1000).toISOString(),
    },
  });
}

server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');

const stop = () => {
  server.close();
  server.closeIdleConnections();
  void pool.end();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
