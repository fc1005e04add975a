import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { startServer } from '../src/server.ts';
import { seedApiKey, TEST_SECRET, useTestServer } from './support/harness.ts';

const database = useTestServer();

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const portOf = (server: Server) => (server.address() as { port: number }).port;
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('a start that fails after the API is listening', () => {
  const held: Server[] = [];
  afterAll(async () => {
    await Promise.all(held.map(close));
  });

  it('closes the API socket it opened: the port is free again', async () => {
    // An existing key, so the start does not mint (and print) a first admin key.
    await seedApiKey(database, ['admin']);
    // A port for the API that nothing holds now, and a metrics port that something does: the
    // start listens on the first, then fails on the second.
    const free = await listenOn(0);
    const apiPort = portOf(free);
    await close(free);
    const taken = await listenOn(0);
    held.push(taken);
    const config = loadConfig({
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      DATABASE_URL: database.databaseUrl,
      LICENTRIC_SECRET: TEST_SECRET,
      LOG_LEVEL: 'silent',
      LICENTRIC_METRICS_PORT: String(portOf(taken)),
      LICENTRIC_WEBHOOKS_IN_SERVER: 'false',
    });

    await expect(startServer(config, createLogger('silent'))).rejects.toMatchObject({ code: 'EADDRINUSE' });
    // Before the catch closed it, the API socket stayed open with nobody to stop it.
    const again = await listenOn(apiPort);
    held.push(again);
    expect(portOf(again)).toBe(apiPort);
  });
});
