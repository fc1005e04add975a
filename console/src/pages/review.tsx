import { ok } from '../api.ts';
import { when } from '../format.ts';
import {
  Needs,
  Notice,
  PageHeading,
  Pager,
  ProblemAlert,
  StatusBadge,
  useAction,
  useConsole,
  useKeyset,
  useLoad,
} from '../ui.tsx';

const PAGE_SIZE = 25;

/**
 * Dead machines of KEEP_DEAD policies, oldest first: each holds a seat until someone decides.
 * Deactivating is one click (no dialog), as working down a queue is the whole task here.
 */
export function ReviewQueuePage() {
  const { client, can } = useConsole();
  const paging = useKeyset();
  const queue = useLoad(
    () => ok(client.GET('/machines/review-queue', { params: { query: { cursor: paging.cursor, limit: PAGE_SIZE } } })),
    [paging.cursor],
  );
  const action = useAction();
  const waiting = queue.data?.meta.waiting;

  return (
    <>
      <PageHeading title="Review queue" />
      <p>
        Machines whose heartbeat stopped under a policy that keeps dead machines for review. Deactivate one to free its
        seat; a machine that sends a heartbeat again in time leaves the queue by itself.
      </p>
      <p class="count" aria-live="polite">
        {waiting === undefined ? '' : waiting === 1 ? '1 machine waiting' : `${waiting} machines waiting`}
      </p>
      <Notice text={action.notice} />
      <ProblemAlert error={action.error ?? queue.error} />
      <Needs operation="deactivateMachine" what="Deactivating a machine" />
      {queue.data && queue.data.data.length > 0 ? (
        <table class="cards">
          <caption class="visually-hidden">Dead machines waiting for review, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">Machine</th>
              <th scope="col">License</th>
              <th scope="col">Heartbeat</th>
              <th scope="col">Last heartbeat</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {queue.data.data.map((m) => {
              const label = m.name ?? m.fingerprint;
              return (
                <tr key={m.id}>
                  <td data-label="Machine">
                    <strong>{label}</strong>
                    <br />
                    <code class="hint">{m.fingerprint}</code>
                  </td>
                  <td data-label="License">
                    <a href={`#/licenses/${m.licenseId}`}>Open license</a>
                  </td>
                  <td data-label="Heartbeat">
                    <StatusBadge status={m.heartbeatStatus} />
                  </td>
                  <td data-label="Last heartbeat">{when(m.lastHeartbeatAt)}</td>
                  <td data-label="Action">
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Deactivate ${label}`}
                      disabled={action.busy || !can('deactivateMachine')}
                      onClick={() =>
                        action.run(async () => {
                          await ok(client.DELETE('/machines/{id}', { params: { path: { id: m.id } } }));
                          queue.reload();
                          return `${label} is deactivated; its seat is free.`;
                        })
                      }
                    >
                      Deactivate
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : queue.data ? (
        <p>Nothing to review.</p>
      ) : queue.loading ? (
        <p class="loading">Loading…</p>
      ) : null}
      {queue.data ? (
        <Pager
          label="Pages of the review queue"
          page={paging.page}
          hasMore={Boolean(queue.data.meta.nextCursor)}
          onNext={() => paging.next(queue.data?.meta.nextCursor)}
          onFirst={paging.first}
        />
      ) : null}
    </>
  );
}
