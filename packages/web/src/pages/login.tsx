/**
 * Sign in, with email and password or with an API key. Signed in already:
 * straight on to `next`. A lockout after too many failures counts down.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { accountApi, BsubError, describe } from '../api.js';
import { now } from '../clock.js';
import { PageTitle } from '../components/page-title.js';
import { say } from '../messages.js';
import { navigate, route, safeNext } from '../router.js';
import { account } from '../session.js';

export function LoginPage() {
  const target = safeNext(route.value.query.get('next'));
  const error = useSignal('');
  const busy = useSignal(false);
  /** Sign-in refused until this time (ms), after a 429. */
  const lockedUntil = useSignal(0);

  useEffect(() => {
    if (account.value) navigate(target, { replace: true });
  }, [account.value]);

  const secondsLeft = Math.max(0, Math.ceil((lockedUntil.value - now.value) / 1000));
  const locked = secondsLeft > 0;

  const signIn = async (credentials: { email: string; password: string } | { api_key: string }) => {
    busy.value = true;
    error.value = '';
    try {
      const who = await accountApi.signIn(credentials);
      account.value = who;
      say(`Signed in as ${who.email}.`);
    } catch (err) {
      if (err instanceof BsubError && err.kind === 'rate_limited') {
        lockedUntil.value = Date.now() + (err.retryAfterMs ?? 60_000);
        error.value = 'Too many failed sign-ins.';
      } else error.value = describe(err);
    } finally {
      busy.value = false;
    }
  };

  const onPassword = (event: SubmitEvent) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    void signIn({ email: String(data.get('email')), password: String(data.get('password')) });
  };
  const onKey = (event: SubmitEvent) => {
    event.preventDefault();
    void signIn({ api_key: String(new FormData(event.currentTarget as HTMLFormElement).get('api_key')) });
  };
  const disabled = busy.value || locked;

  return (
    <>
      <PageTitle title="Sign in to bsubio" />
      <div id="login-error" role="alert">
        {error.value && (
          <p class="error">
            {error.value}
            {locked && ` Try again in ${secondsLeft} second${secondsLeft === 1 ? '' : 's'}.`}
          </p>
        )}
      </div>
      <div class="cards">
        <form onSubmit={onPassword} aria-labelledby="pw-title" aria-describedby="login-error">
          <h2 id="pw-title">With email and password</h2>
          <label for="email">Email</label>
          <input id="email" name="email" type="email" autoComplete="username" required />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autoComplete="current-password" required />
          <button type="submit" disabled={disabled}>
            Sign in
          </button>
        </form>
        <form onSubmit={onKey} aria-labelledby="key-title" aria-describedby="login-error">
          <h2 id="key-title">With an API key</h2>
          <label for="api-key">API key</label>
          <input
            id="api-key"
            name="api_key"
            type="password"
            autoComplete="off"
            placeholder="bsub_…"
            required
          />
          <button type="submit" disabled={disabled}>
            Sign in with key
          </button>
        </form>
      </div>
      <p class="hint">
        An operator sets your password with <code>bsubio-server user password &lt;email&gt;</code>.
      </p>
    </>
  );
}
