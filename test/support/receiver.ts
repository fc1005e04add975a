import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export type Mode = 'ok' | 'fail' | 'hang' | 'redirect';

export interface Received {
  path: string;
  webhookId: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The payload as the Standard Webhooks library verified it, under the secret(s) it holds. */
  payload: {
    type: string;
    timestamp: string;
    actor: { type: string; id: string | null } | null;
    data: Record<string, unknown>;
  };
}

/**
 * A webhook receiver on loopback that verifies every delivery with the `standardwebhooks`
 * package (not the server's code) under the secrets it was given for its path, and answers as
 * its mode says: 200, 500, never (a hang), or a redirect.
 */
export class Receiver {
  readonly received: Received[] = [];
  /** Requests whose signature did not verify, by path. */
  readonly refused: string[] = [];
  readonly secrets = new Map<string, string[]>();
  mode: Mode = 'ok';
  #server!: Server;
  #hanging = new Set<() => void>();
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const path = req.url ?? '/';
        const secrets = this.secrets.get(path) ?? [];
        let payload: Received['payload'] | undefined;
        for (const secret of secrets) {
          try {
            payload = new Webhook(secret).verify(body, req.headers as Record<string, string>) as Received['payload'];
            break;
          } catch {
            // Try the next secret the receiver holds.
          }
        }
        if (payload === undefined) {
          this.refused.push(path);
          res.writeHead(400).end('bad signature');
          return;
        }
        if (this.mode === 'hang') {
          this.#hanging.add(() => res.destroy());
          return;
        }
        this.received.push({
          path,
          webhookId: req.headers['webhook-id'] as string,
          headers: req.headers,
          body,
          payload,
        });
        if (this.mode === 'redirect') res.writeHead(302, { Location: '/elsewhere' }).end();
        else if (this.mode === 'fail') res.writeHead(500).end('receiver is down');
        else res.writeHead(200).end('ok, thanks');
      });
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Every delivery to `path`, in arrival order. */
  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    for (const end of this.#hanging) end();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
