import { createServer, type Server } from 'node:http';
import type { Pool } from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from './core/clock.ts';
import type { EntityManager } from './db/orm.ts';
import type { TrimResult } from './db/retention.ts';
import { execute, type Sql, sql } from './db/sql.ts';
import type { Logger } from './log.ts';
import type { CullResult } from './machines/cull.ts';
import { heartbeatSql } from './machines/heartbeat.ts';

/** How long a count of machines by heartbeat status is reused: a scrape every few seconds costs one count. */
const MACHINE_COUNT_TTL_MS = 30_000;

const machinesByStatus = (now: Date): Sql => sql`
  select ${heartbeatSql.status('m', 'p', now)} as status, count(*)::int as count
    from machines m
    join licenses l on l.id = m.license_id
    join policies p on p.id = l.policy_id
   where m.deleted_at is null
   group by 1`;

/**
 * What a process tells Prometheus. Each process has its own registry (an API replica, a worker,
 * or both in `make run`), served on LICENTRIC_METRICS_PORT apart from the API, so the public API
 * port never exposes it and it needs no key.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'licentric_http_requests_total',
    help: 'API requests answered, by operationId and status.',
    labelNames: ['operation', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'licentric_http_request_duration_seconds',
    help: 'Time from receiving an API request to sending its answer, by operationId.',
    labelNames: ['operation'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'licentric_rate_limited_total',
    help: 'Requests refused with 429, by the budget that ran out (ip, license, apiKey, authFailures).',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly heartbeats = new Counter({
    name: 'licentric_heartbeats_total',
    help: 'Heartbeats answered, by outcome: NOT_REQUIRED, ALIVE, RESURRECTED, or the error code of a refusal.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly cullPasses = new Histogram({
    name: 'licentric_cull_pass_duration_seconds',
    help: 'Culling passes of this process and how long each took.',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly culled = new Counter({
    name: 'licentric_machines_culled_total',
    help: 'Machines the culling worker acted on, by action: deactivated or marked_dead.',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  readonly trimmed = new Counter({
    name: 'licentric_retention_trimmed_rows_total',
    help: 'Rows the worker deleted past their retention, by table: events, webhook_messages, webhook_attempts.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'licentric_' });
  }

  /** Connections of the process's database pool, read at scrape time. */
  watchPool(pool: Pool): void {
    new Gauge({
      name: 'licentric_db_pool_connections',
      help: 'Database pool connections by state: in_use, idle, or waiting (requests queued for one).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        this.set({ state: 'in_use' }, pool.totalCount - pool.idleCount);
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'waiting' }, pool.waitingCount);
      },
    });
  }

  /** Active machines by heartbeat status, computed by one grouped count at most every 30 s. */
  watchMachines(em: () => EntityManager, clock: Clock): void {
    let cached: { at: number; rows: { status: string; count: number }[] } | undefined;
    new Gauge({
      name: 'licentric_machines',
      help: 'Active machines by heartbeat status (NOT_REQUIRED, ALIVE, DEAD), at most 30 s old.',
      labelNames: ['heartbeat_status'] as const,
      registers: [this.registry],
      async collect() {
        if (!cached || Date.now() - cached.at > MACHINE_COUNT_TTL_MS) {
          cached = { at: Date.now(), rows: await execute(em(), machinesByStatus(clock.now())) };
        }
        this.reset();
        for (const status of ['NOT_REQUIRED', 'ALIVE', 'DEAD']) {
          this.set({ heartbeat_status: status }, cached.rows.find((row) => row.status === status)?.count ?? 0);
        }
      },
    });
  }

  observeCull(result: CullResult): void {
    this.cullPasses.observe(result.ms / 1000);
    this.culled.inc({ action: 'deactivated' }, result.deactivated);
    this.culled.inc({ action: 'marked_dead' }, result.markedDead);
  }

  /** A worker pass: its cull, and what its retention trim deleted. */
  observePass(result: CullResult & { trimmed?: TrimResult }): void {
    this.observeCull(result);
    if (!result.trimmed) return;
    this.trimmed.inc({ table: 'events' }, result.trimmed.events);
    this.trimmed.inc({ table: 'webhook_messages' }, result.trimmed.deliveries);
    this.trimmed.inc({ table: 'webhook_attempts' }, result.trimmed.attempts);
  }

  /** Serves `/metrics` and says on which port in the log (port 0 lets the system choose). */
  async listen(port: number, host: string, log: Logger): Promise<Server> {
    const server = await this.serve(port, host);
    log.info({ metricsPort: (server.address() as { port: number }).port }, 'metrics listening');
    return server;
  }

  /** Serves `/metrics` on its own port; resolves with the server once it listens. */
  serve(port: number, host: string): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics is served here.\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: unknown) =>
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(error)}\n`),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
