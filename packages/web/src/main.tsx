/**
 * The bsubio dashboard: Preact components over signals, talking to the
 * server through the `bsubio` SDK. Start: learn who is signed in, then show
 * the page the address names.
 */
import { render } from 'preact';
import { App } from './app.js';
import { clearMessages } from './messages.js';
import { onNavigate, startRouter } from './router.js';
import { checkSession } from './session.js';

startRouter();
// A message belongs to the page it was said on.
onNavigate(clearMessages);
void checkSession();
render(<App />, document.getElementById('app')!);
