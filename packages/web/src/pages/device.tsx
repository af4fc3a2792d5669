/**
 * Approve a `bsubio register` started on another machine. After the code is
 * looked up, focus goes to the explanation, not to Approve: a stray Enter
 * must not sign a machine in.
 */
import { useSignal } from '@preact/signals';
import type { PendingDevice } from 'bsubio';
import { useEffect, useRef } from 'preact/hooks';
import { accountApi, describe } from '../api.js';
import { PageTitle } from '../components/page-title.js';
import { PasswordSessionOnly } from '../components/password-needed.js';
import { formatExact } from '../format.js';
import { say } from '../messages.js';
import { navigate, route, withQuery } from '../router.js';
import { account } from '../session.js';

export function DevicePage() {
  return (
    <PasswordSessionOnly title="Approve a device" what="Approving a device">
      <DeviceApproval />
    </PasswordSessionOnly>
  );
}

function DeviceApproval() {
  const code = route.value.query.get('code') ?? '';
  const device = useSignal<PendingDevice | undefined>(undefined);
  const outcome = useSignal<{ text: string; ok: boolean } | undefined>(undefined);
  const error = useSignal('');
  const question = useRef<HTMLDivElement>(null);

  useEffect(() => {
    device.value = undefined;
    outcome.value = undefined;
    error.value = '';
    if (!code) return;
    accountApi.lookUpDevice(code).then(
      (found) => {
        device.value = found;
        // The question, not the button, gets focus.
        setTimeout(() => question.current?.focus(), 0);
      },
      (err: unknown) => {
        error.value = describe(err);
      },
    );
  }, [code]);

  const decide = async (approve: boolean) => {
    try {
      await accountApi.decideDevice(device.value!.user_code, approve);
      const text = approve
        ? 'Approved. The command line is signed in; you can close this page.'
        : 'Denied. The command line was not signed in.';
      outcome.value = { text, ok: approve };
      device.value = undefined;
      say(text);
    } catch (err) {
      error.value = describe(err);
    }
  };

  const onLookUp = (event: SubmitEvent) => {
    event.preventDefault();
    const typed = String(new FormData(event.currentTarget as HTMLFormElement).get('code'))
      .trim()
      .toUpperCase();
    navigate(withQuery({ code: typed }));
  };

  return (
    <>
      <PageTitle title="Approve a device" />
      <p>
        Run <code>bsubio register</code> on the machine to sign in, then enter the code it shows.
      </p>
      <form class="inline" onSubmit={onLookUp}>
        <label for="user-code">Code shown by bsubio register</label>
        <input
          id="user-code"
          name="code"
          key={code}
          defaultValue={code}
          autoComplete="off"
          autoCapitalize="characters"
          placeholder="ABCD-EFGH"
          required
        />
        <button type="submit">Look up</button>
      </form>
      <div id="device-result">
        {error.value && <p class="error">{error.value}</p>}
        {outcome.value && <p class={outcome.value.ok ? 'ok' : 'error'}>{outcome.value.text}</p>}
        {device.value && (
          <div class="device-question" tabIndex={-1} ref={question}>
            <p>
              Sign in <strong>{device.value.hostname || 'an unnamed machine'}</strong> as{' '}
              {account.value?.email ?? 'you'}? It asked at {formatExact(device.value.created_at)} with code{' '}
              <code>{device.value.user_code}</code>. Approve only if you started <code>bsubio register</code>{' '}
              there.
            </p>
            <div class="actions">
              <button type="button" onClick={() => void decide(true)}>
                Approve
              </button>
              <button type="button" class="danger" onClick={() => void decide(false)}>
                Deny
              </button>
            </div>
          </div>
        )}
      </div>
    </>
  );
}
