/** API keys: create one (shown once), see when each was last used, revoke. */

import type { ApiKeyInfo } from '@bsubio/protocol';
import { signal, useSignal } from '@preact/signals';
import type { CreatedKey } from 'bsubio';
import { useEffect, useRef } from 'preact/hooks';
import { accountApi, describe } from '../api.js';
import { CopyButton } from '../components/copy-button.js';
import { PageTitle } from '../components/page-title.js';
import { PasswordSessionOnly } from '../components/password-needed.js';
import { RelativeTime } from '../components/time.js';
import { say, sayError } from '../messages.js';

/** What is typed in the label field survives a trip to the sign-in page. */
const labelDraft = signal('');

export function KeysPage() {
  return (
    <PasswordSessionOnly title="API keys" what="Managing API keys">
      <KeysManager />
    </PasswordSessionOnly>
  );
}

function KeysManager() {
  const keys = useSignal<ApiKeyInfo[] | undefined>(undefined);
  const loadError = useSignal('');
  const created = useSignal<CreatedKey | undefined>(undefined);
  const newKeyField = useRef<HTMLInputElement>(null);

  const load = () =>
    accountApi.listKeys().then(
      (list) => {
        keys.value = list;
        loadError.value = '';
      },
      (err: unknown) => {
        // Shown where the list goes, with a retry: not "Loading…" for ever.
        if (keys.value === undefined) loadError.value = describe(err);
        else sayError(describe(err));
      },
    );
  useEffect(() => void load(), []);

  const create = async (event: SubmitEvent) => {
    event.preventDefault();
    try {
      created.value = await accountApi.createKey(labelDraft.value.trim() || undefined);
      labelDraft.value = '';
      say('Key created. It is shown only once.');
      setTimeout(() => newKeyField.current?.select(), 0);
      await load();
    } catch (err) {
      sayError(describe(err));
    }
  };

  const revoke = async (key: ApiKeyInfo) => {
    if (!confirm(`Revoke bsub_${key.prefix}_…? Programs using it stop working.`)) return;
    try {
      await accountApi.revokeKey(key.id);
      say(`Key bsub_${key.prefix} revoked.`);
      await load();
    } catch (err) {
      sayError(describe(err));
    }
  };

  return (
    <>
      <PageTitle title="API keys" />
      <form class="inline" onSubmit={create}>
        <label for="key-label">Label</label>
        <input
          id="key-label"
          name="label"
          placeholder="e.g. laptop, CI"
          maxLength={100}
          value={labelDraft.value}
          onInput={(e) => {
            labelDraft.value = e.currentTarget.value;
          }}
        />
        <button type="submit">Create key</button>
      </form>
      {created.value && (
        <section class="new-key" aria-labelledby="new-key-title">
          <h2 id="new-key-title">Your new key</h2>
          <p>It is shown only this once: copy it now.</p>
          <div class="copy-row">
            <input
              id="new-key-value"
              ref={newKeyField}
              readOnly
              value={created.value.api_key}
              aria-label="New API key"
            />
            <CopyButton value={created.value.api_key} what="Key" />
          </div>
        </section>
      )}
      {keys.value === undefined && loadError.value ? (
        <p class="error">
          Could not load your keys: {loadError.value}{' '}
          <button
            type="button"
            onClick={() => {
              loadError.value = '';
              void load();
            }}
          >
            Retry
          </button>
        </p>
      ) : keys.value === undefined ? (
        <p class="loading">Loading keys…</p>
      ) : keys.value.length === 0 ? (
        <p class="empty">No API keys yet. Create one for the command line or your programs.</p>
      ) : (
        <table class="cards-on-phone keys">
          <caption class="visually-hidden">Your active API keys</caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Label</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.value.map((key) => (
              <tr key={key.id} data-key={key.prefix}>
                <td data-label="Key">
                  <code>bsub_{key.prefix}_…</code>
                </td>
                <td data-label="Label">{key.label ?? '—'}</td>
                <td data-label="Created">
                  <RelativeTime iso={key.created_at} />
                </td>
                <td data-label="Last used">
                  {key.last_used_at ? <RelativeTime iso={key.last_used_at} /> : 'never'}
                </td>
                <td class="row-actions">
                  <button
                    type="button"
                    class="danger"
                    aria-label={`Revoke key bsub_${key.prefix}`}
                    onClick={() => void revoke(key)}
                  >
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
