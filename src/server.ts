import type { Server } from 'node:http';
import type { Config } from './config.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { createApp } from './http/app.ts';
import { AuthCache, listenForAuthChanges, type AuthListener } from './keys/auth-cache.ts';
import { createFirstAdminKey } from './keys/bootstrap.ts';
import type { Logger } from './log.ts';
import { openRuntime } from './runtime.ts';
import { startCullSchedule } from './worker.ts';

export interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

/** Opens the database (embedded or external), migrates it, and serves the API until stopped. */
export async function startServer(config: Config, log: Logger, clock: Clock = systemClock): Promise<RunningServer> {
  const runtime = await openRuntime(config, log);
  let authListener: AuthListener | undefined;
  try {
    const firstKey = await createFirstAdminKey(runtime.orm, clock, runtime.hasher);
    if (firstKey) {
      log.warn({ apiKeyId: firstKey.apiKey.id }, 'created the first admin API key; it is printed once on stderr');
      process.stderr.write(
        `\n  First start: an admin API key was created. It is shown only this once:\n\n    ${firstKey.token}\n\n` +
          `  Use it as "Authorization: Bearer <key>". Make narrower keys with: npm run licentric -- api-keys create\n\n`,
      );
    }
    const authCache = new AuthCache();
    authListener = await listenForAuthChanges(runtime.orm.config.get('clientUrl')!, authCache, log);
    const app = await createApp({ orm: runtime.orm, clock, hasher: runtime.hasher, log, authCache });
    const server = await new Promise<Server>((resolve, reject) => {
      const s = app.express.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(s)));
    });
    server.keepAliveTimeout = 65_000;
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const schedule = config.cullInServer ? startCullSchedule(runtime.orm, clock, log, config.cullCron) : undefined;
    log.info({ port, host: config.host, url: `http://${config.host}:${port}/api/v1` }, 'listening');
    return {
      port,
      stop: async () => {
        await schedule?.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await authListener!.close();
        await runtime.close();
      },
    };
  } catch (error) {
    // Its connection would keep a server that failed to start (a port in use) from exiting.
    await authListener?.close();
    await runtime.close();
    throw error;
  }
}
