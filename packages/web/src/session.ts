/**
 * Who is signed in. Checked once at start; cleared when the server refuses
 * the session, which sends the person to /login?next=<where they were>.
 */
import { signal } from '@preact/signals';
import type { SignedInAccount } from 'bsubio';
import { accountApi, onSignedOut } from './api.js';
import { say } from './messages.js';
import { navigate, queryText, route } from './router.js';

/** undefined: not known yet; null: nobody. */
export const account = signal<SignedInAccount | null | undefined>(undefined);

export async function checkSession(): Promise<void> {
  try {
    account.value = await accountApi.session();
  } catch {
    account.value = null;
  }
}

export function loginHref(): string {
  const here = route.value.path + (route.value.query.size ? `?${queryText(route.value.query)}` : '');
  return here === '/' ? '/login' : `/login?next=${encodeURIComponent(here)}`;
}

onSignedOut(() => {
  if (!account.value) return;
  account.value = null;
  if (route.value.path !== '/login') {
    navigate(loginHref());
    say('You were signed out (perhaps in another tab). Sign in to go on; what you typed is kept.', 'error');
  }
});

/** Sign out and go to the sign-in page (`to`: one that leads back, from loginHref()). */
export async function signOut(to = '/login'): Promise<void> {
  await accountApi.signOut().catch(() => {});
  account.value = null;
  navigate(to);
  say('Signed out.');
}
