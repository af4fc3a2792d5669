/**
 * The page frame (header, navigation, messages) and the route table: which
 * page a path shows. Everything else about the view comes from the query.
 */
import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { Messages } from './components/messages.js';
import { linkState, startLive, stopLive } from './live.js';
import { DevicePage } from './pages/device.js';
import { JobPage } from './pages/job.js';
import { JobsPage } from './pages/jobs.js';
import { KeysPage } from './pages/keys.js';
import { LoginPage } from './pages/login.js';
import { NotFoundPage } from './pages/not-found.js';
import { OverviewPage } from './pages/overview.js';
import { UploadPage } from './pages/upload.js';
import { navigate, route } from './router.js';
import { account, loginHref, signOut } from './session.js';

const JOB_PATH = /^\/jobs\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

const NAV = [
  { href: '/', label: 'Jobs' },
  { href: '/upload', label: 'Upload' },
  { href: '/overview', label: 'Overview' },
  { href: '/keys', label: 'API keys' },
  { href: '/device', label: 'Devices' },
];

function page(path: string) {
  if (path === '/') return <JobsPage />;
  const job = JOB_PATH.exec(path);
  if (job) return <JobPage key={job[1]} id={job[1]!} />;
  if (path === '/upload') return <UploadPage />;
  if (path === '/overview') return <OverviewPage />;
  if (path === '/keys') return <KeysPage />;
  if (path === '/device') return <DevicePage />;
  return <NotFoundPage />;
}

function Header() {
  const path = route.value.path;
  const signedIn = account.value;
  const current = (href: string) =>
    href === '/' ? path === '/' || path.startsWith('/jobs/') : path === href ? true : undefined;
  return (
    <header>
      <nav aria-label="Main">
        <a href="/" class="brand">
          <img src="/assets/favicon.svg" alt="" width={22} height={22} />
          bsubio
        </a>
        {signedIn && (
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <a href={item.href} aria-current={current(item.href) ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        )}
        {signedIn && (
          <div class="who">
            <span id="who">{signedIn.email}</span>
            {linkState.value === 'reconnecting' && <span class="link-state">reconnecting…</span>}
            <button type="button" class="link" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        )}
      </nav>
    </header>
  );
}

export function App() {
  const path = route.value.path;
  const who = account.value;
  const needsSignIn = who === null && path !== '/login';

  useEffect(() => {
    if (needsSignIn) navigate(loginHref(), { replace: true });
  }, [needsSignIn]);
  useEffect(() => {
    if (who) startLive();
    else if (who === null) stopLive();
  }, [who?.id]);

  let content: ComponentChildren;
  if (who === undefined) content = <p class="loading">Loading…</p>;
  else if (path === '/login') content = <LoginPage />;
  else if (who === null) content = <p class="loading">Taking you to sign in…</p>;
  else content = page(path);

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header />
      <Messages />
      <main id="main" tabIndex={-1}>
        {content}
      </main>
    </>
  );
}
