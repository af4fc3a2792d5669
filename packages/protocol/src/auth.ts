/**
 * Wire schemas of sign-in for the CLI (the device flow the bsub.io CLI runs
 * in `bsubio register`) and of the dashboard's account calls. Server, CLI and
 * dashboard all take their shapes from here.
 */
import { type Static, Type } from 'typebox';

export const DeviceCodeRequestSchema = Type.Object({
  hostname: Type.Optional(
    Type.String({ maxLength: 255, description: 'The machine asking, shown to the approver' }),
  ),
});
export type DeviceCodeRequest = Static<typeof DeviceCodeRequestSchema>;

export const DeviceCodeResponseSchema = Type.Object({
  device_code: Type.String({ description: 'Secret the CLI polls with; never shown to people' }),
  user_code: Type.String({ description: 'Short code the person types or confirms, like ABCD-EFGH' }),
  verification_uri: Type.String({
    description: 'The dashboard page where a signed-in user approves the code',
  }),
  verification_uri_complete: Type.Optional(
    Type.String({ description: 'Extension: the page with the code filled in' }),
  ),
  expires_in: Type.Integer({ description: 'Seconds until the codes expire' }),
  interval: Type.Integer({ description: 'Seconds to wait between polls' }),
});
export type DeviceCodeResponse = Static<typeof DeviceCodeResponseSchema>;

const DEVICE_TOKEN_SENTENCE = 'Send {"device_code", "user_code"} from POST /v1/auth/device/code.';
export const DeviceTokenRequestSchema = Type.Object(
  {
    device_code: Type.String({ minLength: 1, errorMessage: DEVICE_TOKEN_SENTENCE }),
    user_code: Type.String({ minLength: 1, errorMessage: DEVICE_TOKEN_SENTENCE }),
  },
  { errorMessage: DEVICE_TOKEN_SENTENCE },
);
export type DeviceTokenRequest = Static<typeof DeviceTokenRequestSchema>;

/** `202` while the person has not yet approved. */
export const DevicePendingResponseSchema = Type.Object({ status: Type.Literal('pending') });

/** `429`: polled faster than `interval`; wait this many seconds from now on. */
export const DeviceSlowDownResponseSchema = Type.Object({
  success: Type.Literal(false),
  error: Type.String(),
  interval: Type.Integer(),
});

export const DeviceUserSchema = Type.Object({
  email: Type.String(),
  first_name: Type.String(),
  last_name: Type.String(),
});

/** `200`: approved; the key is handed out once, then the device code is spent (`410`). */
export const DeviceAuthorizedResponseSchema = Type.Object({
  status: Type.Literal('authorized'),
  api_key: Type.String(),
  user: DeviceUserSchema,
});
export type DeviceAuthorizedResponse = Static<typeof DeviceAuthorizedResponseSchema>;

/** Status codes of `POST /v1/auth/device/token`. */
export const DEVICE_TOKEN_STATUS = {
  authorized: 200,
  pending: 202,
  denied: 403,
  expired: 410,
  slowDown: 429,
} as const;

/** Dashboard: `POST /v1/auth/session` signs in with a password or with an API key. */
export const SessionRequestSchema = Type.Union(
  [Type.Object({ email: Type.String(), password: Type.String() }), Type.Object({ api_key: Type.String() })],
  { errorMessage: 'Send {"email", "password"} or {"api_key"} to sign in.' },
);

export const AccountSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
});
export type Account = Static<typeof AccountSchema>;

/** One API key as listed (never the key itself, only its public prefix). */
export const ApiKeyInfoSchema = Type.Object({
  id: Type.String(),
  prefix: Type.String({ description: 'The key starts with bsub_<prefix>_' }),
  label: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type ApiKeyInfo = Static<typeof ApiKeyInfoSchema>;

/** The header a cookie-authenticated request must carry to change anything (CSRF guard). */
export const CSRF_HEADER = 'x-bsubio-csrf';

/** `GET /v1/auth/session`: who is signed in, and how. */
export const SessionInfoSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  via: Type.Enum(['key', 'session', 'key_session'], {
    description:
      'key: an API key; session: the dashboard signed in with a password; key_session: the dashboard signed in with an API key',
  }),
});

/** `POST /v1/auth/keys`: the new key, shown this once. */
export const CreatedKeySchema = Type.Object({
  api_key: Type.String({ description: 'The key itself; it is not shown again' }),
  key: ApiKeyInfoSchema,
});

/** `GET /v1/auth/device?code=`: the sign-in a user code names, before approving it. */
export const DeviceSignInSchema = Type.Object({
  user_code: Type.String(),
  hostname: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.String({ format: 'date-time' }),
});
