import { ok, type Schemas } from '../api.ts';
import { when } from '../format.ts';
import { Needs, ProblemAlert, useConsole, useLoad } from '../ui.tsx';

const SHOWN = 25;
/** The event log pages oldest first; a license's or machine's history is short, so read it to the end. */
const MAX_PAGES = 10;

/** The newest events of a license or machine, newest first. */
export function EventList(props: {
  filter: { licenseId?: string; machineId?: string };
  version: number;
  label: string;
}) {
  const { client, can } = useConsole();
  const events = useLoad(async () => {
    if (!can('listEvents')) return null;
    let newest: Schemas['Event'][] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const { data, pagination } = await ok(
        client.GET('/events', { params: { query: { ...props.filter, cursor, limit: 100 } } }),
      );
      newest = [...newest, ...data].slice(-SHOWN);
      if (!pagination.hasMore || !pagination.nextCursor) break;
      cursor = pagination.nextCursor;
    }
    return newest.reverse();
  }, [props.filter.licenseId, props.filter.machineId, props.version]);

  if (!can('listEvents')) return <Needs operation="listEvents" what="Reading events" />;
  if (events.error) return <ProblemAlert error={events.error} />;
  if (!events.data) return <p class="loading">Loading…</p>;
  if (events.data.length === 0) return <p>No events yet.</p>;
  return (
    <ol class="events" aria-label={props.label}>
      {events.data.map((event) => (
        <li key={event.id}>
          <time dateTime={event.occurredAt}>{when(event.occurredAt)}</time> <strong>{event.type}</strong>
          <span class="hint">{summary(event)}</span>
        </li>
      ))}
    </ol>
  );
}

/** The one detail of an event a support person asks about first. */
function summary(event: Schemas['Event']): string {
  const data = event.data as {
    reason?: string;
    machine?: { name?: string | null; fingerprint?: string };
    license?: { status?: string; expiresAt?: string | null };
  };
  const parts: string[] = [];
  if (data.machine) parts.push(data.machine.name ?? data.machine.fingerprint ?? '');
  if (data.reason) parts.push(`reason ${data.reason}`);
  if (event.type === 'license.renewed' && data.license?.expiresAt)
    parts.push(`expires ${when(data.license.expiresAt)}`);
  const text = parts.filter(Boolean).join(' · ');
  return text ? ` — ${text}` : '';
}
