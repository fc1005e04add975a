import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMetrics, startBackground } from './background.ts';
import type { Config } from './config.ts';
import { systemClock } from './core/clock.ts';
import { createApp } from './http/app.ts';
import { OpenResponses } from './http/open-responses.ts';
import { createHttpServer } from './http/transport.ts';
import { AuthCache, type AuthListener, listenForAuthChanges } from './keys/auth-cache.ts';
import { createFirstAdminKey } from './keys/bootstrap.ts';
import type { Logger } from './log.ts';
import { openRuntime } from './runtime.ts';
import { StartupError } from './startup.ts';

/**
 * How long a keep-alive connection must have gone without a request before a stopping server
 * closes it. A client's next request may already be on its way on a connection that has just
 * answered; closing it then would lose that request. One idle this long has no client waiting
 * on it, short of the race every keep-alive connection has with its own idle timeout.
 */
const DRAIN_IDLE_MS = 1_000;

export interface RunningServer {
  port: number;
  /**
   * Stops gently: unready at once, keeps serving for the configured delay, stops listening,
   * finishes the requests it received (their responses close the connection), lets a worker
   * pass finish, closes the pool and the embedded PostgreSQL. Resolves to whether everything
   * drained within the grace period.
   */
  stop(): Promise<boolean>;
}

/** Opens the database (embedded or external), migrates it, and serves the API until stopped. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const clock = systemClock;
  const runtime = await openRuntime(config, log, { embeddedRole: 'server' });
  // What a failed start has already opened, so the catch below closes it: a listening socket or
  // a listener's connection would keep the process alive (and in a library caller, leak).
  // startBackground closes what it opened itself.
  let authListener: AuthListener | undefined;
  let server: Server | undefined;
  try {
    const firstKey = await createFirstAdminKey(runtime.orm, clock, runtime.hasher);
    if (firstKey) {
      log.warn({ apiKeyId: firstKey.apiKey.id }, 'created the first admin API key; it is printed once on stderr');
      process.stderr.write(
        `\n  First start: an admin API key was created. It is shown only this once:\n\n    ${firstKey.token}\n\n` +
          `  Use it as "Authorization: Bearer <key>". Make narrower keys with, e.g.:\n    licentric api-keys create --name backend --scopes machines:read,licenses:read\n` +
          `  (in a checkout: npm run licentric -- api-keys create …)\n\n`,
      );
    }
    let stopping = false;
    const webhookAddresses = { allowPrivate: config.webhooksAllowPrivate };
    const metrics = await createMetrics(config);
    const authCache = new AuthCache();
    authListener = await listenForAuthChanges(runtime.orm.config.get('clientUrl')!, authCache, log);
    const app = await createApp({
      orm: runtime.orm,
      clock,
      hasher: runtime.hasher,
      secret: runtime.secrets,
      log,
      stopping: () => stopping,
      rateLimits: config.rateLimits,
      trustProxy: config.trustProxy,
      metrics,
      webhookAddresses,
      authCache,
    });
    server = await new Promise<Server>((resolve, reject) => {
      const s = createHttpServer(app.listener, config.transportTimeouts, log, app.responseSigner);
      s.once('error', reject);
      s.listen(config.port, config.host, () => {
        s.off('error', reject);
        resolve(s);
      });
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        throw new StartupError(`port ${config.port} is in use on ${config.host}; set PORT to a free port`);
      if (error.code === 'EADDRNOTAVAIL')
        throw new StartupError(`${config.host} is not an address of this machine; set HOST`);
      if (error.code === 'EACCES')
        throw new StartupError(`port ${config.port} needs privileges this process lacks; set PORT to 1024 or above`);
      throw error;
    });
    // The stop below closes over this one; `server` stays reassignable for the catch.
    const listening = server;
    listening.keepAliveTimeout = 65_000;

    // Responses still to be written when the stop begins, so each can close its connection.
    const open = new OpenResponses();
    // Each connection, and since when it has had no request (0 while one is on it).
    const idleSince = new Map<Socket, number>();
    listening.on('connection', (socket: Socket) => {
      idleSince.set(socket, performance.now());
      socket.once('close', () => idleSince.delete(socket));
    });
    listening.prependListener('request', (req, res: ServerResponse) => {
      if (stopping) res.setHeader('Connection', 'close');
      const entry = open.add(res);
      if (idleSince.has(req.socket)) idleSince.set(req.socket, 0);
      res.once('close', () => {
        open.delete(entry);
        if (idleSince.has(req.socket)) idleSince.set(req.socket, performance.now());
      });
    });

    const address = listening.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    // Last, as it stops what it started when a part of it fails.
    const background = await startBackground(runtime, config, { process: 'serve', metrics, clock, log });
    log.info({ port, host: config.host, url: `http://${config.host}:${port}/api/v1` }, 'listening');

    let stopped: Promise<boolean> | undefined;
    const stop = async (): Promise<boolean> => {
      const started = performance.now();
      stopping = true;
      for (const res of open) if (!res.headersSent) res.setHeader('Connection', 'close');
      // A load balancer polling /readyz sees 503 and stops sending traffic during the delay.
      if (config.shutdownDelaySeconds > 0) await sleep(config.shutdownDelaySeconds * 1000);

      const graceMs = Math.max(0, config.shutdownGraceSeconds * 1000 - (performance.now() - started));
      // No new connections. Not http.Server's close: it also closes at once every connection
      // between two requests, and under a flood the next request is already on its way on
      // them. Each answer from now on closes its connection; one left idle is closed below.
      const drained = new Promise<void>((resolve) => NetServer.prototype.close.call(listening, () => resolve()));
      const closeIdle = () => {
        const before = performance.now() - DRAIN_IDLE_MS;
        for (const [socket, since] of idleSince) if (since !== 0 && since <= before) socket.destroy();
      };
      closeIdle();
      const sweep = setInterval(closeIdle, 50);
      const grace = sleep(graceMs, 'timeout' as const, { ref: false });
      const outcome = await Promise.race([
        Promise.all([drained, background.stop()]).then(() => 'drained' as const),
        grace,
      ]);
      clearInterval(sweep);
      if (outcome === 'timeout') {
        log.error(
          { requests: open.size, graceSeconds: config.shutdownGraceSeconds },
          'the shutdown grace ran out; closing the remaining connections',
        );
        listening.closeAllConnections();
      }
      // Beats still queued are written before the pools go (within the grace: past it, nothing
      // waits); then the cache listener's own connection, which would keep the process alive.
      await Promise.race([app.heartbeats.flush(), grace]);
      await Promise.race([app.close(), grace]);
      await authListener!.close();
      const drainMs = Math.round(performance.now() - started);
      await runtime.close();
      log.info({ drainMs, clean: outcome === 'drained' }, 'stopped');
      return outcome === 'drained';
    };
    return {
      port,
      stop: () => (stopped ??= stop()),
    };
  } catch (error) {
    server?.close();
    server?.closeAllConnections();
    await authListener?.close();
    await runtime.close();
    throw error;
  }
}
