import { useState } from 'preact/hooks';
import { ApiError, idempotencyKey, ok, type Schemas } from '../api.ts';
import { when } from '../format.ts';
import {
  Field,
  Needs,
  PageHeading,
  Pager,
  ProblemAlert,
  ShownOnce,
  StatusBadge,
  useAction,
  useConsole,
  useKeyset,
  useLoad,
} from '../ui.tsx';

const PAGE_SIZE = 25;

/** A full license key (PREFIX-XXXXX-XXXXX-XXXXX-XXXXX) rather than a name or an email. */
function looksLikeKey(text: string): boolean {
  return /^[A-Za-z0-9]{1,16}(-[A-Za-z0-9]{5}){4}$/.test(text.trim());
}

export function LicensesPage() {
  const { client, can } = useConsole();
  const [search, setSearch] = useState('');
  const paging = useKeyset();
  const lookup = useAction();

  const list = useLoad(
    () =>
      ok(
        client.GET('/licenses', {
          params: { query: { search: search || undefined, cursor: paging.cursor, limit: PAGE_SIZE } },
        }),
      ),
    [search, paging.cursor],
  );

  return (
    <>
      <PageHeading title="Licenses" />
      <search>
        <form
          class="search"
          onSubmit={(event) => {
            event.preventDefault();
            const text = String(new FormData(event.currentTarget).get('q') ?? '').trim();
            if (looksLikeKey(text)) {
              // The server hashes the key and finds its license; the key never goes in a URL.
              void lookup.run(async () => {
                const { data } = await ok(client.POST('/licenses/actions/lookup', { body: { key: text } }));
                location.hash = `#/licenses/${data.id}`;
                return null;
              });
              return;
            }
            paging.first();
            setSearch(text);
          }}
        >
          <Field
            label="Find a license"
            hint="A name, a metadata value such as the customer's email, or the whole license key."
          >
            {(id, hint) => <input id={id} name="q" type="search" aria-describedby={hint} autocomplete="off" />}
          </Field>
          <button type="submit" class="primary" disabled={lookup.busy}>
            Search
          </button>
          {can('createLicense') ? (
            <a class="button" href="#/licenses/new">
              New license
            </a>
          ) : null}
        </form>
      </search>
      {lookup.error instanceof ApiError && lookup.error.status === 404 ? (
        <div class="alert" role="alert">
          No license has that key. {lookup.error.message}
        </div>
      ) : (
        <ProblemAlert error={lookup.error} />
      )}
      <ProblemAlert error={list.error} />
      {list.data ? (
        <>
          <p class="hint" aria-live="polite">
            {search ? `Licenses matching “${search}”` : 'All licenses, oldest first'}: page {paging.page},{' '}
            {list.data.data.length} shown.
          </p>
          <LicenseTable licenses={list.data.data} />
          <Pager
            label="Pages of licenses"
            page={paging.page}
            hasMore={list.data.pagination.hasMore}
            onNext={() => paging.next(list.data?.pagination.nextCursor)}
            onFirst={paging.first}
          />
        </>
      ) : list.loading ? (
        <p class="loading">Loading…</p>
      ) : null}
      <Needs operation="createLicense" what="Creating a license" />
    </>
  );
}

function LicenseTable({ licenses }: { licenses: Schemas['License'][] }) {
  if (licenses.length === 0) return <p>No license matches.</p>;
  return (
    <table class="cards">
      <caption class="visually-hidden">Licenses</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Key</th>
          <th scope="col">Status</th>
          <th scope="col">Machines</th>
          <th scope="col">Expires</th>
        </tr>
      </thead>
      <tbody>
        {licenses.map((license) => (
          <tr key={license.id}>
            <td data-label="Name">
              <a href={`#/licenses/${license.id}`}>{license.name ?? '(no name)'}</a>
            </td>
            <td data-label="Key">
              <code>{license.keyHint}</code>
            </td>
            <td data-label="Status">
              <StatusBadge status={license.status} />
            </td>
            <td data-label="Machines">{license.machineCount}</td>
            <td data-label="Expires">{when(license.expiresAt, 'never')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Every policy, for a picker: a vendor has a handful, so a few pages at most. */
export async function allPolicies(client: ReturnType<typeof useConsole>['client']): Promise<Schemas['Policy'][]> {
  const policies: Schemas['Policy'][] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10; page++) {
    const { data, pagination } = await ok(client.GET('/policies', { params: { query: { cursor, limit: 100 } } }));
    policies.push(...data);
    if (!pagination.hasMore || !pagination.nextCursor) break;
    cursor = pagination.nextCursor;
  }
  return policies;
}

export function NewLicensePage() {
  const { client, can } = useConsole();
  const policies = useLoad(() => (can('listPolicies') ? allPolicies(client) : Promise.resolve([])), []);
  const action = useAction();
  const [created, setCreated] = useState<Schemas['CreatedLicense'] | null>(null);

  return (
    <>
      <PageHeading title="New license" />
      <Needs operation="createLicense" what="Creating a license" />
      <ProblemAlert error={policies.error} />
      {created ? (
        <>
          <p>
            Created <a href={`#/licenses/${created.id}`}>{created.name ?? 'the license'}</a>.
          </p>
          <ShownOnce label="License key" value={created.key} />
          <button type="button" onClick={() => setCreated(null)}>
            Create another
          </button>
        </>
      ) : (
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            const form = new FormData(event.currentTarget);
            const email = String(form.get('email') ?? '').trim();
            const expires = String(form.get('expiresAt') ?? '');
            void action.run(async () => {
              const { data } = await ok(
                client.POST('/licenses', {
                  headers: { 'Idempotency-Key': idempotencyKey() },
                  body: {
                    policyId: String(form.get('policyId')),
                    name: String(form.get('name') ?? '').trim() || undefined,
                    expiresAt: expires ? new Date(`${expires}:00.000Z`).toISOString() : undefined,
                    metadata: email ? { email } : undefined,
                  },
                }),
              );
              setCreated(data);
              return null;
            });
          }}
        >
          <Field label="Policy">
            {(id) => (
              <select id={id} name="policyId" required>
                {(policies.data ?? []).map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Name" hint="Who it is for, e.g. the customer's company.">
            {(id, hint) => <input id={id} name="name" maxLength={255} aria-describedby={hint} />}
          </Field>
          <Field label="Customer email" hint="Kept as metadata.email; search finds the license by it.">
            {(id, hint) => <input id={id} name="email" type="email" aria-describedby={hint} />}
          </Field>
          <Field label="Expires (UTC)" hint="Empty: as the policy says.">
            {(id, hint) => <input id={id} name="expiresAt" type="datetime-local" aria-describedby={hint} />}
          </Field>
          <button type="submit" class="primary" disabled={action.busy || !can('createLicense')}>
            Create license
          </button>
        </form>
      )}
      <ProblemAlert error={action.error} />
    </>
  );
}
