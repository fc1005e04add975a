/**
 * The runtime's own ceiling: a bare `node:http` server that reads each request's body and answers
 * every request with the same small JSON, touching no database and checking nothing. No server
 * that does real work can reach it; the ratio to it says how much of the runtime's capacity the
 * real server's per-request machinery leaves for the work (issue: heartbeats ≥ 0.2× this floor).
 *
 *   PORT=… node bench/hot/floor.ts
 */
import { createServer } from 'node:http';

// About a heartbeat answer's size, so the bytes on the wire are alike.
const BODY = Buffer.from(
  JSON.stringify({
    data: {
      id: '0193a6f0-0000-7000-8000-000000000000',
      heartbeatStatus: 'ALIVE',
      lastHeartbeatAt: '2026-12-04T00:00:00.000Z',
      nextHeartbeatAt: '2026-12-04T00:10:00.000Z',
    },
  }),
);

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
