/**
 * The floor to compare the real server with: `node:http` and a `pg` pool, nothing else, doing
 * what a heartbeat must do in the database — the same key check (canonical key, HMAC-SHA-256
 * with the server secret, one lookup of the live license with its policy) and the same
 * heartbeat statement as MachinesService.heartbeat(). No framework, no request validation, no
 * ORM, no logging. Whatever the real server spends beyond this is the cost of those.
 *
 *   DATABASE_URL=… LICENTRIC_SECRET=… PORT=… node bench/heartbeat/baseline.ts
 */
import { createServer, type ServerResponse } from 'node:http';
import pg from 'pg';
import { isUuid } from '../../src/core/ids.ts';
import { KeyHasher } from '../../src/keys/hashing.ts';
import { parseLicenseKey } from '../../src/keys/license-key.ts';
import { heartbeatStatement } from '../../src/machines/machines.service.ts';

const LICENSE_SQL = `
  select l.id, l.key_hash, l.expires_at, l.suspended_at,
         p.require_heartbeat, p.heartbeat_duration, p.heartbeat_resurrection_window
    from licenses l join policies p on p.id = l.policy_id
   where l.key_hash = $1 and l.deleted_at is null`;


/** `?` placeholders (the ORM's) as `$n` (pg's), in order. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const PATH = /^\/api\/v1\/machines\/([^/?]+)\/heartbeat$/;
const AUTHORIZATION = /^License +(\S+)\s*$/i;

const hasher = new KeyHasher(process.env.LICENTRIC_SECRET!);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

function reply(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

const problem = (res: ServerResponse, status: number, code: string) => reply(res, status, { status, code });

const server = createServer((req, res) => {
  req.resume();
  if (req.url === '/readyz') return reply(res, 200, { status: 'ok' });
  const match = req.method === 'POST' ? PATH.exec(req.url ?? '') : null;
  if (!match) return problem(res, 404, 'NOT_FOUND');
  heartbeat(res, decodeURIComponent(match[1]!), req.headers.authorization).catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    problem(res, 500, 'INTERNAL_ERROR');
  });
});

async function heartbeat(res: ServerResponse, id: string, authorization: string | undefined): Promise<void> {
  const presented = authorization === undefined ? undefined : AUTHORIZATION.exec(authorization)?.[1];
  const canonical = presented === undefined ? null : parseLicenseKey(presented);
  if (canonical === null) return problem(res, 401, 'INVALID_CREDENTIALS');
  const hash = hasher.hash('license-key', canonical);
  const { rows: [license] } = await pool.query<{ id: string; key_hash: Buffer; expires_at: Date | null; suspended_at: Date | null }>(LICENSE_SQL, [hash]);
  if (!license || !KeyHasher.equal(license.key_hash, hash)) return problem(res, 401, 'INVALID_CREDENTIALS');
  if (!isUuid(id)) return problem(res, 404, 'MACHINE_NOT_FOUND');
  const now = new Date();
  if (license.suspended_at !== null) return problem(res, 403, 'LICENSE_SUSPENDED');
  if (license.expires_at !== null && license.expires_at.getTime() <= now.getTime()) return problem(res, 403, 'LICENSE_EXPIRED');

  // MachinesService.heartbeat()'s own statement, with pg's placeholders.
  const statement = heartbeatStatement(id, license.id, now);
  const { rows: [row] } = await pool.query<{ previous: Date; require_heartbeat: boolean; heartbeat_duration: number }>(
    numbered(statement.text),
    [...statement.values],
  );
  if (!row) return problem(res, 404, 'MACHINE_NOT_FOUND');
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

server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');

const stop = () => {
  server.close();
  server.closeIdleConnections();
  void pool.end();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
