import { useRef, useState } from 'preact/hooks';
import { idempotencyKey, ok, type Schemas } from '../api.ts';
import { duration, fromLocalInput, toLocalInput, when } from '../format.ts';
import {
  ConfirmButton,
  Field,
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
import { EventList } from './events.tsx';

export function LicensePage({ id }: { id: string }) {
  const { client, can } = useConsole();
  const license = useLoad(() => ok(client.GET('/licenses/{id}', { params: { path: { id } } })), [id]);
  const action = useAction();
  const [eventsVersion, setEventsVersion] = useState(0);
  const after = (message: string) => {
    license.reload();
    setEventsVersion((v) => v + 1);
    return message;
  };

  if (!license.data)
    return (
      <>
        <PageHeading title="License" />
        <ProblemAlert error={license.error} />
        {license.loading ? <p class="loading">Loading…</p> : null}
      </>
    );
  const l = license.data.data;
  const title = l.name ?? `License ${l.keyHint}`;

  return (
    <>
      <p class="crumbs">
        <a href="#/licenses">Licenses</a> ›
      </p>
      <PageHeading title={title} />
      <Notice text={action.notice} />
      <ProblemAlert error={action.error} />
      <section aria-labelledby="overview">
        <h2 id="overview">Overview</h2>
        <dl class="facts">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={l.status} />
            {l.suspendedAt ? <span class="hint"> since {when(l.suspendedAt)}</span> : null}
          </dd>
          <dt>Key</dt>
          <dd>
            <code>{l.keyHint}</code> <span class="hint">(the server keeps only its hash)</span>
          </dd>
          <dt>Expires</dt>
          <dd>{when(l.expiresAt, 'never')}</dd>
          <dt>Machines</dt>
          <dd>
            {l.machineCount} active ({l.coreCount} {l.coreCount === 1 ? 'core' : 'cores'})
          </dd>
          <dt>Created</dt>
          <dd>{when(l.createdAt)}</dd>
          <PolicyFacts policyId={l.policyId} />
          {l.productId ? <ProductFact productId={l.productId} /> : null}
          {Object.keys(l.metadata).length > 0 ? (
            <>
              <dt>Metadata</dt>
              <dd>
                <code class="wrap">{JSON.stringify(l.metadata)}</code>
              </dd>
            </>
          ) : null}
          <Entitlements licenseId={l.id} />
        </dl>
      </section>

      <section aria-labelledby="actions">
        <h2 id="actions">Actions</h2>
        <div class="actions">
          {l.status === 'SUSPENDED' ? (
            <ConfirmButton
              label="Reinstate"
              question={`Reinstate ${title}? Its machines may validate again.`}
              confirm="Reinstate license"
              disabled={action.busy || !can('reinstateLicense')}
              onConfirm={() =>
                action.run(async () => {
                  await ok(
                    client.POST('/licenses/{id}/actions/reinstate', {
                      params: { path: { id } },
                      headers: { 'Idempotency-Key': idempotencyKey() },
                    }),
                  );
                  return after('The license is reinstated.');
                })
              }
            />
          ) : (
            <ConfirmButton
              label="Suspend"
              danger
              question={`Suspend ${title}? Its machines fail validation until it is reinstated.`}
              confirm="Suspend license"
              disabled={action.busy || !can('suspendLicense')}
              onConfirm={() =>
                action.run(async () => {
                  await ok(
                    client.POST('/licenses/{id}/actions/suspend', {
                      params: { path: { id } },
                      headers: { 'Idempotency-Key': idempotencyKey() },
                    }),
                  );
                  return after('The license is suspended.');
                })
              }
            />
          )}
          <ConfirmButton
            label="Renew"
            question={`Renew ${title}? Its expiry moves on by one policy duration.`}
            confirm="Renew license"
            disabled={action.busy || !can('renewLicense')}
            onConfirm={() =>
              action.run(async () => {
                const { data } = await ok(
                  client.POST('/licenses/{id}/actions/renew', {
                    params: { path: { id } },
                    headers: { 'Idempotency-Key': idempotencyKey() },
                  }),
                );
                return after(`Renewed: it now expires ${when(data.expiresAt, 'never')}.`);
              })
            }
          />
          <ExpiryForm license={l} busy={action.busy} run={action.run} after={after} />
        </div>
        <Needs operation="suspendLicense" what="Suspending, reinstating or changing the expiry" />
      </section>

      <Machines licenseId={l.id} onChange={() => after('')} />

      <section aria-labelledby="events">
        <h2 id="events">Recent events</h2>
        <EventList filter={{ licenseId: l.id }} version={eventsVersion} label="Events of this license" />
      </section>
    </>
  );
}

/** Sets the expiry to a chosen time (a merge patch of `expiresAt`), after a confirmation. */
function ExpiryForm(props: {
  license: Schemas['License'];
  busy: boolean;
  run: ReturnType<typeof useAction>['run'];
  after(message: string): string;
}) {
  const { client, can } = useConsole();
  const input = useRef<HTMLInputElement>(null);
  const allowed = can('updateLicense');
  return (
    <div class="expiry">
      <Field label="New expiry (UTC)">
        {(id) => (
          <input
            id={id}
            ref={input}
            type="datetime-local"
            defaultValue={toLocalInput(props.license.expiresAt)}
            disabled={!allowed}
          />
        )}
      </Field>
      <ConfirmButton
        label="Set expiry"
        question="Set the license's expiry to the time entered?"
        confirm="Set expiry"
        disabled={props.busy || !allowed}
        onConfirm={() =>
          props.run(async () => {
            const value = input.current?.value;
            if (!value) throw new Error('Enter the new expiry first.');
            const { data } = await ok(
              client.PATCH('/licenses/{id}', {
                params: { path: { id: props.license.id } },
                body: { expiresAt: fromLocalInput(value) },
                headers: { 'Content-Type': 'application/merge-patch+json' },
              }),
            );
            return props.after(`It now expires ${when(data.expiresAt, 'never')}.`);
          })
        }
      />
    </div>
  );
}

function PolicyFacts({ policyId }: { policyId: string }) {
  const { client, can } = useConsole();
  const policy = useLoad(
    () =>
      can('getPolicy')
        ? ok(client.GET('/policies/{id}', { params: { path: { id: policyId } } }))
        : Promise.resolve(null),
    [policyId],
  );
  const p = policy.data?.data;
  return (
    <>
      <dt>Policy</dt>
      <dd>
        {p ? (
          <>
            <a href={`#/policies/${p.id}`}>{p.name}</a>
            <span class="hint">
              {' '}
              · {p.maxMachines === null ? 'any number of machines' : `at most ${p.maxMachines} machines`}
              {p.requireHeartbeat
                ? ` · heartbeat every ${duration(p.heartbeatDuration)}, dead machines ${p.heartbeatCullStrategy === 'KEEP_DEAD' ? 'kept for review' : 'deactivated'}`
                : ''}
              {p.duration ? ` · renews by ${duration(p.duration)}` : ''}
            </span>
          </>
        ) : (
          <code>{policyId}</code>
        )}
      </dd>
    </>
  );
}

function ProductFact({ productId }: { productId: string }) {
  const { client, can } = useConsole();
  const product = useLoad(
    () =>
      can('getProduct')
        ? ok(client.GET('/products/{id}', { params: { path: { id: productId } } }))
        : Promise.resolve(null),
    [productId],
  );
  return (
    <>
      <dt>Product</dt>
      <dd>{product.data ? product.data.data.name : <code>{productId}</code>}</dd>
    </>
  );
}

function Entitlements({ licenseId }: { licenseId: string }) {
  const { client, can } = useConsole();
  const entitlements = useLoad(
    () =>
      can('listLicenseEntitlements')
        ? ok(client.GET('/licenses/{id}/entitlements', { params: { path: { id: licenseId } } }))
        : Promise.resolve(null),
    [licenseId],
  );
  const list = entitlements.data?.data ?? [];
  if (list.length === 0) return null;
  return (
    <>
      <dt>Entitlements</dt>
      <dd>
        <ul class="inline">
          {list.map((e) => (
            <li key={e.id}>
              <code>{e.code}</code>
              <span class="hint"> (from {e.sources.map((s) => s.toLowerCase()).join(' and ')})</span>
            </li>
          ))}
        </ul>
      </dd>
    </>
  );
}

const MACHINE_PAGE = 25;

function Machines({ licenseId, onChange }: { licenseId: string; onChange(): void }) {
  const { client, can } = useConsole();
  const paging = useKeyset();
  const machines = useLoad(
    () =>
      can('listMachines')
        ? ok(
            client.GET('/machines', {
              params: { query: { licenseId, cursor: paging.cursor, limit: MACHINE_PAGE } },
            }),
          )
        : Promise.resolve(null),
    [licenseId, paging.cursor],
  );
  const action = useAction();
  const [eventsOf, setEventsOf] = useState<Schemas['Machine'] | null>(null);

  return (
    <section aria-labelledby="machines">
      <h2 id="machines">Machines</h2>
      <Needs operation="listMachines" what="Listing machines" />
      <Needs operation="deactivateMachine" what="Deactivating a machine" />
      <Notice text={action.notice} />
      <ProblemAlert error={action.error ?? machines.error} />
      {machines.data ? (
        machines.data.data.length === 0 ? (
          <p>No active machine.</p>
        ) : (
          <table class="cards">
            <caption class="visually-hidden">Machines of this license</caption>
            <thead>
              <tr>
                <th scope="col">Machine</th>
                <th scope="col">Heartbeat</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Activated</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {machines.data.data.map((m) => (
                <MachineRow
                  key={m.id}
                  machine={m}
                  busy={action.busy}
                  showingEvents={eventsOf?.id === m.id}
                  onEvents={() => setEventsOf(eventsOf?.id === m.id ? null : m)}
                  onDeactivate={() =>
                    action.run(async () => {
                      await ok(client.DELETE('/machines/{id}', { params: { path: { id: m.id } } }));
                      machines.reload();
                      onChange();
                      return `${m.name ?? m.fingerprint} is deactivated; its seat is free.`;
                    })
                  }
                  onCheckOut={() =>
                    action.run(async () => {
                      const blob = await ok(
                        client.POST('/machines/{id}/actions/check-out', {
                          params: { path: { id: m.id } },
                          body: {},
                          headers: { Accept: 'application/octet-stream' },
                          parseAs: 'blob',
                        }),
                      );
                      download(blob as Blob, `${m.id}.lic`);
                      onChange();
                      return `Machine file for ${m.name ?? m.fingerprint} downloaded (${m.id}.lic).`;
                    })
                  }
                />
              ))}
            </tbody>
          </table>
        )
      ) : null}
      {machines.data ? (
        <Pager
          label="Pages of machines"
          page={paging.page}
          hasMore={machines.data.pagination.hasMore}
          onNext={() => paging.next(machines.data?.pagination.nextCursor)}
          onFirst={paging.first}
        />
      ) : null}
      {eventsOf ? (
        <section aria-labelledby="machine-events" class="machine-events">
          <h3 id="machine-events">Events of {eventsOf.name ?? eventsOf.fingerprint}</h3>
          <EventList filter={{ machineId: eventsOf.id }} version={0} label="Events of this machine" />
        </section>
      ) : null}
    </section>
  );
}

function MachineRow(props: {
  machine: Schemas['Machine'];
  busy: boolean;
  showingEvents: boolean;
  onEvents(): void;
  onDeactivate(): void;
  onCheckOut(): void;
}) {
  const { can } = useConsole();
  const m = props.machine;
  const label = m.name ?? m.fingerprint;
  return (
    <tr>
      <td data-label="Machine">
        <strong>{label}</strong>
        <br />
        <span class="hint">
          <code>{m.fingerprint}</code>
          {m.platform ? ` · ${m.platform}` : ''}
          {m.hostname ? ` · ${m.hostname}` : ''}
        </span>
      </td>
      <td data-label="Heartbeat">
        <StatusBadge status={m.heartbeatStatus} />
        {m.nextHeartbeatAt && m.heartbeatStatus === 'ALIVE' ? (
          <span class="hint"> until {when(m.nextHeartbeatAt)}</span>
        ) : null}
      </td>
      <td data-label="Last heartbeat">{when(m.lastHeartbeatAt)}</td>
      <td data-label="Activated">{when(m.createdAt)}</td>
      <td data-label="Actions" class="row-actions">
        <ConfirmButton
          label="Deactivate"
          accessibleLabel={`Deactivate ${label}`}
          danger
          question={`Deactivate ${label}? Its seat is freed; the software on it must activate again.`}
          confirm="Deactivate machine"
          disabled={props.busy || !can('deactivateMachine')}
          onConfirm={props.onDeactivate}
        />
        {can('checkOutMachine') ? (
          <button
            type="button"
            disabled={props.busy}
            aria-label={`Machine file of ${label}`}
            onClick={props.onCheckOut}
          >
            Machine file
          </button>
        ) : null}
        {can('listEvents') ? (
          <button
            type="button"
            aria-pressed={props.showingEvents}
            aria-label={`Events of ${label}`}
            onClick={props.onEvents}
          >
            Events
          </button>
        ) : null}
      </td>
    </tr>
  );
}

/** Saves a file the API answered, as the browser's download. */
function download(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
