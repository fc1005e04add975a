import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, apiClient, type OperationId, ok, UNAUTHORIZED } from './api.ts';
import { ApiKeysPage } from './pages/api-keys.tsx';
import { LicensePage } from './pages/license.tsx';
import { LicensesPage, NewLicensePage } from './pages/licenses.tsx';
import { PoliciesPage, PolicyPage } from './pages/policies.tsx';
import { ReviewQueuePage } from './pages/review.tsx';
import { forgetToken, type Session, storedToken, storeToken } from './session.ts';
import { ConsoleContext, consoleFor, Field, ProblemAlert, useConsole } from './ui.tsx';

/** The route is the hash (`#/licenses/…`): the server serves one page, and a reload keeps the place. */
function useRoute(): string[] {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash.replace(/^#\/?/, '').split('?')[0]!.split('/').filter(Boolean).map(decodeURIComponent);
}

/** Who the token belongs to and what it may do: the one call every sign-in makes. */
async function whoIs(token: string): Promise<Session> {
  const { data } = await ok(apiClient(token).GET('/api-keys/current'));
  return { token, key: data };
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(() => storedToken() !== null);
  const [error, setError] = useState<unknown>(null);

  // A reload in the same tab keeps the session; the key is checked again, as it may be revoked.
  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    whoIs(token).then(
      (s) => {
        setSession(s);
        setChecking(false);
      },
      (e: unknown) => {
        forgetToken();
        setError(e);
        setChecking(false);
      },
    );
  }, []);

  // A key refused mid-session is forgotten at once, and the sign-in form says why.
  useEffect(() => {
    const refused = (event: Event) => {
      forgetToken();
      setSession(null);
      setError((event as CustomEvent<ApiError>).detail);
    };
    addEventListener(UNAUTHORIZED, refused);
    return () => removeEventListener(UNAUTHORIZED, refused);
  }, []);

  if (checking) return <p class="loading">Checking the stored key…</p>;
  if (!session)
    return (
      <SignIn
        error={error}
        onSignIn={async (token) => {
          setError(null);
          try {
            const s = await whoIs(token);
            storeToken(token);
            setSession(s);
            if (!location.hash) location.hash = '#/licenses';
          } catch (e) {
            setError(e);
          }
        }}
      />
    );
  return (
    <SignedIn
      session={session}
      onSignOut={() => {
        forgetToken();
        setSession(null);
        setError(null);
        location.hash = '';
      }}
    />
  );
}

function SignIn({ error, onSignIn }: { error: unknown; onSignIn(token: string): Promise<void> }) {
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    document.title = 'Sign in · Licentric console';
  }, []);
  return (
    <main class="signin">
      <h1>Licentric console</h1>
      <p>
        Sign in with an API key. It is kept in this tab only (sessionStorage) and is gone when the tab closes; the
        console does what the key's scopes allow and nothing more.
      </p>
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          const token = String(new FormData(event.currentTarget).get('token') ?? '').trim();
          if (!token) return;
          setBusy(true);
          await onSignIn(token);
          setBusy(false);
        }}
      >
        <Field label="API key" hint="The token printed when the key was made, starting with lct_.">
          {(id, hint) => (
            <input
              id={id}
              name="token"
              type="password"
              autocomplete="off"
              spellcheck={false}
              required
              aria-describedby={hint}
            />
          )}
        </Field>
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      {error instanceof ApiError && error.status === 401 ? (
        <ProblemAlert error={new Error(`${error.message} Check the key and sign in again.`)} />
      ) : (
        <ProblemAlert error={error} />
      )}
    </main>
  );
}

const SECTIONS: { path: string; label: string; operation: OperationId }[] = [
  { path: 'licenses', label: 'Licenses', operation: 'listLicenses' },
  { path: 'review', label: 'Review queue', operation: 'listMachineReviewQueue' },
  { path: 'policies', label: 'Policies', operation: 'listPolicies' },
  { path: 'api-keys', label: 'API keys', operation: 'listApiKeys' },
];

function SignedIn({ session, onSignOut }: { session: Session; onSignOut(): void }) {
  const value = useMemo(() => consoleFor(session, apiClient(session.token)), [session]);
  const route = useRoute();
  const section = route[0] ?? 'licenses';

  // Moving to another page moves focus to its heading, so a screen reader announces where the
  // reader is; a fresh load leaves focus at the top, where the skip link is.
  const routeKey = route.join('/');
  const firstRoute = useRef(routeKey);
  useEffect(() => {
    if (routeKey === firstRoute.current) return;
    firstRoute.current = '\0';
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [routeKey]);

  return (
    <ConsoleContext.Provider value={value}>
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">Licentric console</span>
        <nav aria-label="Sections">
          <ul>
            {SECTIONS.filter((s) => value.can(s.operation)).map((s) => (
              <li key={s.path}>
                <a href={`#/${s.path}`} aria-current={section === s.path ? 'page' : undefined}>
                  {s.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <KeyCard onSignOut={onSignOut} />
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </ConsoleContext.Provider>
  );
}

function KeyCard({ onSignOut }: { onSignOut(): void }) {
  const { session } = useConsole();
  return (
    <div class="key-card">
      <span>
        Signed in as <strong>{session.key.name}</strong>
        {session.key.productId ? <> (one product only)</> : null}
      </span>
      <ul class="scopes" aria-label="Scopes of this key">
        {session.key.scopes.map((scope) => (
          <li key={scope}>{scope}</li>
        ))}
      </ul>
      <button type="button" onClick={onSignOut}>
        Sign out
      </button>
    </div>
  );
}

function Page({ route }: { route: string[] }) {
  const [section, id] = route;
  switch (section) {
    case undefined:
    case 'licenses':
      if (id === 'new') return <NewLicensePage />;
      return id ? <LicensePage id={id} /> : <LicensesPage />;
    case 'review':
      return <ReviewQueuePage />;
    case 'policies':
      return id ? <PolicyPage id={id} /> : <PoliciesPage />;
    case 'api-keys':
      return <ApiKeysPage />;
    default:
      return (
        <>
          <h1 tabIndex={-1}>Not found</h1>
          <p>
            No page here. <a href="#/licenses">Find a license</a>.
          </p>
        </>
      );
  }
}
