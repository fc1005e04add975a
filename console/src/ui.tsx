import { type ComponentChildren, createContext } from 'preact';
import { useCallback, useContext, useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError, allows, type Client, type OperationId, requiredScopes, type Scope } from './api.ts';
import type { Session } from './session.ts';

export interface Console {
  session: Session;
  client: Client;
  can(operation: OperationId): boolean;
}

export const ConsoleContext = createContext<Console | null>(null);

export function useConsole(): Console {
  const value = useContext(ConsoleContext);
  if (!value) throw new Error('useConsole outside a signed-in console');
  return value;
}

export function consoleFor(session: Session, client: Client): Console {
  return { session, client, can: (operation) => allows(session.key.scopes as Scope[], operation) };
}

/** What a failed call shows: the problem's `detail`, and its `code` for a support ticket. */
export function ProblemAlert({ error }: { error: unknown }) {
  if (!error) return null;
  const problem = error instanceof ApiError ? error.problem : {};
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div class="alert" role="alert">
      <strong>Refused: </strong>
      {message}
      {problem.code ? <span class="code"> ({problem.code})</span> : null}
    </div>
  );
}

/** A polite announcement of what an action did, for screen readers and sighted readers alike. */
export function Notice({ text }: { text: string | null }) {
  return (
    <p class="notice" role="status" aria-live="polite">
      {text ? <>✓ {text}</> : null}
    </p>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/** Loads with `load` whenever `deps` change; `reload` loads again. A stale answer is dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const mine = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === latest.current && setState({ data, loading: false }),
      (error: unknown) => mine === latest.current && setState({ error, loading: false }),
    );
  }, [...deps, generation]);
  return { ...state, data: state.data, error: state.error, reload: useCallback(() => setGeneration((g) => g + 1), []) };
}

/**
 * Runs an action, keeping its problem or its success message for the page to show; `busy` while
 * it runs, so a second click does nothing.
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const run = useCallback(async (action: () => Promise<string | null>) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      setNotice(await action());
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, notice, run, setNotice };
}

/**
 * A button that asks first, in a modal dialog (focus moves into it, Escape cancels, focus returns
 * to the button after). `confirm` names what will happen, as the dialog's button.
 */
export function ConfirmButton(props: {
  label: string;
  question: ComponentChildren;
  confirm: string;
  onConfirm(): unknown;
  disabled?: boolean;
  danger?: boolean;
  accessibleLabel?: string;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  return (
    <>
      <button
        type="button"
        class={props.danger ? 'danger' : undefined}
        disabled={props.disabled}
        aria-label={props.accessibleLabel}
        onClick={() => dialog.current?.showModal()}
      >
        {props.label}
      </button>
      <dialog ref={dialog} aria-labelledby={titleId} class="confirm">
        <form
          method="dialog"
          onSubmit={(event) => {
            const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
            if (submitter?.value === 'yes') void props.onConfirm();
          }}
        >
          <p id={titleId}>{props.question}</p>
          <div class="buttons">
            <button type="submit" value="no" autofocus>
              Cancel
            </button>
            <button type="submit" value="yes" class={props.danger ? 'danger' : 'primary'}>
              {props.confirm}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}

/** A secret shown once: selectable text and a copy button, with a warning it will not come back. */
export function ShownOnce({ label, value }: { label: string; value: string }) {
  const id = useId();
  const [copied, setCopied] = useState<string | null>(null);
  return (
    <section class="once" aria-labelledby={`${id}-h`}>
      <h3 id={`${id}-h`}>{label}</h3>
      <p>
        <strong>Shown once.</strong> Copy it now: the server keeps only a hash and cannot show it again.
      </p>
      <div class="copy">
        <label class="visually-hidden" for={id}>
          {label}
        </label>
        <input id={id} readOnly value={value} onFocus={(e) => e.currentTarget.select()} data-secret />
        <button
          type="button"
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(value);
              setCopied('Copied to the clipboard.');
            } catch {
              setCopied('The browser refused the clipboard: select the text and copy it.');
            }
          }}
        >
          Copy
        </button>
      </div>
      <p role="status" class="hint">
        {copied}
      </p>
    </section>
  );
}

/** Next and first page of a keyset-paged list. */
export function Pager(props: { page: number; hasMore: boolean; onNext(): void; onFirst(): void; label: string }) {
  if (props.page === 1 && !props.hasMore) return null;
  return (
    <nav class="pager" aria-label={props.label}>
      <button type="button" onClick={props.onFirst} disabled={props.page === 1}>
        First page
      </button>
      <span>Page {props.page}</span>
      <button type="button" onClick={props.onNext} disabled={!props.hasMore}>
        Next page
      </button>
    </nav>
  );
}

/** Paging state for a keyset list: the cursors of the pages seen, so "first" is always one step. */
export function useKeyset() {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: cursors[cursors.length - 1],
    page: cursors.length,
    next: (cursor: string | null | undefined) => cursor && setCursors((c) => [...c, cursor]),
    first: () => setCursors([undefined]),
  };
}

/** Why a control is missing: the scopes the operation needs, which the key does not hold. */
export function Needs({ operation, what }: { operation: OperationId; what: string }) {
  const { can } = useConsole();
  if (can(operation)) return null;
  return (
    <p class="hint needs">
      {what} needs {requiredScopes(operation).join(', ')}, which this key does not hold.
    </p>
  );
}

/** A status as a word and a symbol, never only a colour. */
export function StatusBadge({ status }: { status: string }) {
  const symbol: Record<string, string> = {
    ACTIVE: '●',
    ALIVE: '●',
    SUSPENDED: '⏸',
    EXPIRED: '⌛',
    DEAD: '✕',
    NOT_REQUIRED: '○',
  };
  return (
    <span class={`badge badge-${status.toLowerCase().replace(/_/g, '-')}`}>
      <span aria-hidden="true">{symbol[status] ?? '•'} </span>
      {status.replace(/_/g, ' ')}
    </span>
  );
}

export function Field(props: {
  label: string;
  hint?: string;
  children: (id: string, hintId?: string) => ComponentChildren;
}) {
  const id = useId();
  const hintId = props.hint ? `${id}-hint` : undefined;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.children(id, hintId)}
      {props.hint ? (
        <span class="hint" id={hintId}>
          {props.hint}
        </span>
      ) : null}
    </div>
  );
}

/** The page's heading, focused when the page opens, and the tab's title. */
export function PageHeading({ title, children }: { title: string; children?: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · Licentric console`;
  }, [title]);
  return <h1 tabIndex={-1}>{children ?? title}</h1>;
}
