import { useState } from 'preact/hooks';
import { idempotencyKey, ok, type Schemas, type Scope } from '../api.ts';
import { fromLocalInput, when } from '../format.ts';
import {
  ConfirmButton,
  Field,
  Notice,
  PageHeading,
  Pager,
  ProblemAlert,
  ShownOnce,
  useAction,
  useConsole,
  useKeyset,
  useLoad,
} from '../ui.tsx';

/** Every scope, in the order the spec lists them; `admin` implies the others. */
const SCOPES: Scope[] = [
  'licenses:read',
  'licenses:write',
  'machines:read',
  'machines:write',
  'policies:read',
  'policies:write',
  'products:read',
  'products:write',
  'entitlements:read',
  'entitlements:write',
  'events:read',
  'webhooks:write',
  'signing-keys:write',
  'admin',
];

export function ApiKeysPage() {
  const { client, session } = useConsole();
  const paging = useKeyset();
  const keys = useLoad(
    () => ok(client.GET('/api-keys', { params: { query: { cursor: paging.cursor, limit: 25 } } })),
    [paging.cursor],
  );
  const action = useAction();
  const [created, setCreated] = useState<Schemas['CreatedApiKey'] | null>(null);

  return (
    <>
      <PageHeading title="API keys" />
      <Notice text={action.notice} />
      <ProblemAlert error={action.error ?? keys.error} />
      {created ? <ShownOnce label={`Token of ${created.name}`} value={created.token} /> : null}
      {keys.data ? (
        <>
          <section aria-labelledby="new-key" class="panel">
            <h2 id="new-key">New API key</h2>
            <form
              class="stack"
              onSubmit={(event) => {
                event.preventDefault();
                const form = event.currentTarget;
                const data = new FormData(form);
                const expires = String(data.get('expiresAt') ?? '');
                void action.run(async () => {
                  const answer = await ok(
                    client.POST('/api-keys', {
                      headers: { 'Idempotency-Key': idempotencyKey() },
                      body: {
                        name: String(data.get('name') ?? '').trim(),
                        scopes: data.getAll('scopes').map(String) as Scope[],
                        expiresAt: expires ? fromLocalInput(expires) : undefined,
                      },
                    }),
                  );
                  setCreated(answer.data);
                  form.reset();
                  keys.reload();
                  return `API key ${answer.data.name} created.`;
                });
              }}
            >
              <Field label="Name" hint="Who or what uses it, e.g. billing-backend.">
                {(id, hint) => <input id={id} name="name" required maxLength={255} aria-describedby={hint} />}
              </Field>
              <fieldset>
                <legend>Scopes</legend>
                <div class="scope-grid">
                  {SCOPES.map((scope) => (
                    <label key={scope} class="check">
                      <input type="checkbox" name="scopes" value={scope} /> {scope}
                    </label>
                  ))}
                </div>
              </fieldset>
              <Field label="Expires (UTC)" hint="Empty: never.">
                {(id, hint) => <input id={id} name="expiresAt" type="datetime-local" aria-describedby={hint} />}
              </Field>
              <button type="submit" class="primary" disabled={action.busy}>
                Create API key
              </button>
            </form>
          </section>
          <table class="cards">
            <caption class="visually-hidden">API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Token</th>
                <th scope="col">Scopes</th>
                <th scope="col">Last used</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.data.map((key) => (
                <tr key={key.id}>
                  <td data-label="Name">
                    {key.name}
                    {key.id === session.key.id ? <strong> (this key)</strong> : null}
                  </td>
                  <td data-label="Token">
                    <code>{key.tokenHint}</code>
                  </td>
                  <td data-label="Scopes">{key.scopes.join(', ')}</td>
                  <td data-label="Last used">{when(key.lastUsedAt, 'never')}</td>
                  <td data-label="Action">
                    <ConfirmButton
                      label="Revoke"
                      accessibleLabel={`Revoke ${key.name}`}
                      danger
                      question={`Revoke ${key.name}? Every program using it is refused from now on.${key.id === session.key.id ? ' It is the key this console signed in with.' : ''}`}
                      confirm="Revoke API key"
                      disabled={action.busy}
                      onConfirm={() =>
                        action.run(async () => {
                          await ok(client.DELETE('/api-keys/{id}', { params: { path: { id: key.id } } }));
                          keys.reload();
                          return `${key.name} is revoked.`;
                        })
                      }
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager
            label="Pages of API keys"
            page={paging.page}
            hasMore={keys.data.pagination.hasMore}
            onNext={() => paging.next(keys.data?.pagination.nextCursor)}
            onFirst={paging.first}
          />
        </>
      ) : null}
    </>
  );
}
