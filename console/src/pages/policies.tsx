import { useState } from 'preact/hooks';
import { idempotencyKey, ok, type Schemas } from '../api.ts';
import { duration, when } from '../format.ts';
import {
  Field,
  Needs,
  Notice,
  PageHeading,
  Pager,
  ProblemAlert,
  useAction,
  useConsole,
  useKeyset,
  useLoad,
} from '../ui.tsx';

type PolicyFields = Pick<
  Schemas['CreatePolicyRequest'],
  'name' | 'keyPrefix' | 'maxMachines' | 'requireHeartbeat' | 'heartbeatDuration' | 'heartbeatCullStrategy' | 'duration'
>;

/** The form's fields as a request body; an empty number means none (`null`). */
function readPolicyForm(form: HTMLFormElement): PolicyFields {
  const data = new FormData(form);
  const number = (name: string) => {
    const text = String(data.get(name) ?? '').trim();
    return text === '' ? null : Number(text);
  };
  const minutes = number('heartbeatMinutes');
  const days = number('durationDays');
  return {
    name: String(data.get('name') ?? '').trim(),
    keyPrefix: String(data.get('keyPrefix') ?? '').trim() || undefined,
    maxMachines: number('maxMachines'),
    requireHeartbeat: data.get('requireHeartbeat') === 'on',
    heartbeatDuration: minutes === null ? undefined : Math.round(minutes * 60),
    heartbeatCullStrategy: String(data.get('heartbeatCullStrategy')) as Schemas['HeartbeatCullStrategy'],
    duration: days === null ? null : Math.round(days * 86_400),
  };
}

function PolicyForm(props: {
  policy?: Schemas['Policy'];
  submit: string;
  busy: boolean;
  onSubmit(fields: PolicyFields): void;
}) {
  const p = props.policy;
  return (
    <form
      class="stack"
      onSubmit={(event) => {
        event.preventDefault();
        props.onSubmit(readPolicyForm(event.currentTarget));
      }}
    >
      <Field label="Name">
        {(id) => <input id={id} name="name" required maxLength={255} defaultValue={p?.name} />}
      </Field>
      <Field label="License key prefix" hint="1–12 capital letters or digits, e.g. DSK.">
        {(id, hint) => (
          <input
            id={id}
            name="keyPrefix"
            pattern="[A-Z0-9]{1,12}"
            maxLength={12}
            defaultValue={p?.keyPrefix}
            aria-describedby={hint}
          />
        )}
      </Field>
      <Field label="Most machines per license" hint="Empty: no limit.">
        {(id, hint) => (
          <input
            id={id}
            name="maxMachines"
            type="number"
            min={1}
            defaultValue={p?.maxMachines ?? ''}
            aria-describedby={hint}
          />
        )}
      </Field>
      <div class="field check">
        <input id="requireHeartbeat" name="requireHeartbeat" type="checkbox" defaultChecked={p?.requireHeartbeat} />
        <label for="requireHeartbeat">Machines must send heartbeats</label>
      </div>
      <Field label="Heartbeat window (minutes)" hint="1 minute to 30 days; 10 minutes when empty.">
        {(id, hint) => (
          <input
            id={id}
            name="heartbeatMinutes"
            type="number"
            min={1}
            step="any"
            defaultValue={p ? p.heartbeatDuration / 60 : ''}
            aria-describedby={hint}
          />
        )}
      </Field>
      <Field label="A machine whose heartbeat stops">
        {(id) => (
          <select id={id} name="heartbeatCullStrategy" defaultValue={p?.heartbeatCullStrategy ?? 'DEACTIVATE_DEAD'}>
            <option value="DEACTIVATE_DEAD">is deactivated (DEACTIVATE_DEAD)</option>
            <option value="KEEP_DEAD">stays for review (KEEP_DEAD)</option>
          </select>
        )}
      </Field>
      <Field label="License duration (days)" hint="Empty: licenses do not expire by themselves.">
        {(id, hint) => (
          <input
            id={id}
            name="durationDays"
            type="number"
            min={0.001}
            step="any"
            defaultValue={p?.duration ? p.duration / 86_400 : ''}
            aria-describedby={hint}
          />
        )}
      </Field>
      <button type="submit" class="primary" disabled={props.busy}>
        {props.submit}
      </button>
    </form>
  );
}

export function PoliciesPage() {
  const { client, can } = useConsole();
  const paging = useKeyset();
  const policies = useLoad(
    () => ok(client.GET('/policies', { params: { query: { cursor: paging.cursor, limit: 25 } } })),
    [paging.cursor],
  );
  const action = useAction();
  const [creating, setCreating] = useState(false);

  return (
    <>
      <PageHeading title="Policies" />
      <Notice text={action.notice} />
      <ProblemAlert error={action.error ?? policies.error} />
      {can('createPolicy') ? (
        creating ? (
          <section aria-labelledby="new-policy" class="panel">
            <h2 id="new-policy">New policy</h2>
            <PolicyForm
              submit="Create policy"
              busy={action.busy}
              onSubmit={(fields) =>
                action.run(async () => {
                  const { data } = await ok(
                    client.POST('/policies', {
                      headers: { 'Idempotency-Key': idempotencyKey() },
                      body: { ...fields, duration: fields.duration ?? undefined },
                    }),
                  );
                  setCreating(false);
                  policies.reload();
                  return `Policy ${data.name} created.`;
                })
              }
            />
            <button type="button" onClick={() => setCreating(false)}>
              Cancel
            </button>
          </section>
        ) : (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New policy
          </button>
        )
      ) : (
        <Needs operation="createPolicy" what="Creating a policy" />
      )}
      {policies.data ? (
        <>
          <table class="cards">
            <caption class="visually-hidden">Policies</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key prefix</th>
                <th scope="col">Machines</th>
                <th scope="col">Heartbeat</th>
                <th scope="col">Duration</th>
              </tr>
            </thead>
            <tbody>
              {policies.data.data.map((p) => (
                <tr key={p.id}>
                  <td data-label="Name">
                    <a href={`#/policies/${p.id}`}>{p.name}</a>
                  </td>
                  <td data-label="Key prefix">
                    <code>{p.keyPrefix}</code>
                  </td>
                  <td data-label="Machines">{p.maxMachines ?? 'no limit'}</td>
                  <td data-label="Heartbeat">
                    {p.requireHeartbeat
                      ? `every ${duration(p.heartbeatDuration)}, ${p.heartbeatCullStrategy}`
                      : 'not required'}
                  </td>
                  <td data-label="Duration">{p.duration ? duration(p.duration) : 'none'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager
            label="Pages of policies"
            page={paging.page}
            hasMore={policies.data.pagination.hasMore}
            onNext={() => paging.next(policies.data?.pagination.nextCursor)}
            onFirst={paging.first}
          />
        </>
      ) : null}
    </>
  );
}

export function PolicyPage({ id }: { id: string }) {
  const { client, can } = useConsole();
  const policy = useLoad(() => ok(client.GET('/policies/{id}', { params: { path: { id } } })), [id]);
  const action = useAction();
  const p = policy.data?.data;
  return (
    <>
      <p class="crumbs">
        <a href="#/policies">Policies</a> ›
      </p>
      <PageHeading title={p ? `Policy ${p.name}` : 'Policy'} />
      <Notice text={action.notice} />
      <ProblemAlert error={action.error ?? policy.error} />
      {p ? (
        <>
          <p class="hint">
            Created {when(p.createdAt)}, changed {when(p.updatedAt)}. Changing a limit never deactivates machines; it
            only blocks new activations.
          </p>
          {can('updatePolicy') ? (
            <PolicyForm
              key={p.updatedAt}
              policy={p}
              submit="Save changes"
              busy={action.busy}
              onSubmit={(fields) =>
                action.run(async () => {
                  await ok(
                    client.PATCH('/policies/{id}', {
                      params: { path: { id } },
                      body: { ...fields, heartbeatDuration: fields.heartbeatDuration },
                      headers: { 'Content-Type': 'application/merge-patch+json' },
                    }),
                  );
                  policy.reload();
                  return 'Saved.';
                })
              }
            />
          ) : (
            <Needs operation="updatePolicy" what="Changing a policy" />
          )}
        </>
      ) : null}
    </>
  );
}
