/**
 * The bsubio dashboard: Preact components over signals, talking to the
 * server through the `bsubio` SDK. Start: learn who is signed in, then show
 * the page the address names.
 */
import { render } from 'preact';
import { App } from './app.js';
import { startLive } from './live.js';
import { clearMessages } from './messages.js';
import { onNavigate, startRouter } from './router.js';
import { checkSession } from './session.js';

startRouter();
// A message belongs to the page it was said on.
onNavigate(clearMessages);
void checkSession();
// Most opens are by someone still signed in: open the event stream alongside the
// session check instead of after it (one round trip less before the list shows).
// Signed out, it is refused and closed when the session check says so.
if (location.pathname !== '/login') startLive();
render(<App />, document.getElementById('app')!);
