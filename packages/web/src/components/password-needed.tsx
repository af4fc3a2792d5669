/**
 * Keys and device approvals need a person signed in with their password
 * (the server refuses a session opened with an API key: a leaked key must
 * not mint keys or sign in machines). Such a session gets this instead of a
 * form that cannot work: why, and the way to a password sign-in that comes
 * back here.
 */
import type { ComponentChildren } from 'preact';
import { account, loginHref, signOut } from '../session.js';
import { PageTitle } from './page-title.js';

/** `children` (a page), unless the session was opened with an API key: then why not, and the way on. */
export function PasswordSessionOnly({
  title,
  what,
  children,
}: {
  title: string;
  what: string;
  children: ComponentChildren;
}) {
  const email = account.value?.email;
  if (account.value?.via !== 'key_session' || !email) return <>{children}</>;
  return (
    <>
      <PageTitle title={title} />
      <PasswordSignInNeeded what={what} email={email} />
    </>
  );
}

function PasswordSignInNeeded({ what, email }: { what: string; email: string }) {
  return (
    <section class="password-needed" aria-labelledby="password-needed-title">
      <h2 id="password-needed-title">Sign in with your password for this</h2>
      <p>
        You signed in with an API key. {what} needs you signed in with your email and password, so that a
        leaked key cannot make new keys or sign in other machines.
      </p>
      <p>
        <button type="button" onClick={() => void signOut(loginHref())}>
          Sign in with a password
        </button>
      </p>
      <p class="hint">
        No password yet? An operator sets one with <code>bsubio-server user password {email}</code>.
      </p>
    </section>
  );
}
