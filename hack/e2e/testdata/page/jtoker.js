// jtoker.js is the smallest app that uses j-toker (the jQuery client of devise_token_auth) as its
// readme wires it: $.auth.configure({apiUrl, passwordResetSuccessUrl, confirmationSuccessUrl}) on
// every page load, then the package's own methods. Nothing of the package is patched: on load it
// reads the credentials a devise redirect put in the query string (its processSearchParams),
// strips them with a location.replace, validates the token and broadcasts its events.
//
// The test (jtoker.mjs) tells the page where the API is through window.e2eConfig, set by an init
// script before any page script runs: {apiUrl: "http://127.0.0.1:P", pageURL: "…"}. The
// page records what j-toker broadcast (every topic under "auth", through pubsub-js's hierarchical
// addressing, subscribed before configure runs) and exposes window.e2e for the driver to call
// j-toker's methods and read its state.
import PubSub from 'pubsub-js';
import Auth from 'j-toker';

const cfg = window.e2eConfig || {};
const log = { events: [], configure: { state: 'pending' }, settled: false };

// plain turns what j-toker hands out (jqXHR objects, Deferred results) into JSON.
function plain(v) {
  if (v === undefined) return null;
  try { return JSON.parse(JSON.stringify(v)); } catch (e) { return String(v); }
}

PubSub.subscribe('auth', (topic, data) => { log.events.push({ topic, data: plain(data) }); });

// settle marks the page load done a little after j-toker's promise settles: j-toker resolves on
// a zero timeout and pubsub-js delivers on another, so events are in by then.
function settle(state) {
  log.configure = state;
  document.getElementById('status').textContent = state.state;
  setTimeout(() => { log.settled = true; }, 100);
}

const configured = Auth.configure({
  apiUrl: cfg.apiUrl,
  passwordResetSuccessUrl: () => cfg.pageURL,
  confirmationSuccessUrl: () => cfg.pageURL,
});
if (configured === false) {
  // j-toker found credentials in the query string and is reloading the page without them.
  log.configure = { state: 'redirecting' };
} else {
  configured.then(
    (user) => settle({ state: 'resolved', user: plain(user) }),
    (err) => settle({ state: 'rejected', reason: plain(err) }),
  );
}

window.e2e = {
  log,
  // call runs one of j-toker's methods and reports how its promise ended (a native Promise:
  // j-toker's are jQuery Deferreds), again once its events are delivered.
  call(method, opts) {
    return new Promise((resolve) => {
      const done = (r) => setTimeout(() => resolve(r), 100);
      let d;
      try {
        d = Auth[method](opts);
      } catch (e) {
        done({ ok: false, thrown: String(e) });
        return;
      }
      d.then((v) => done({ ok: true, value: plain(v) }), (e) => done({ ok: false, error: plain(e) }));
    });
  },
  // state is what j-toker holds: its user, its flags and the credentials it stored (a cookie,
  // its default storage).
  state() {
    return {
      url: window.location.href,
      user: plain(Auth.user),
      mustResetPassword: Auth.mustResetPassword,
      firstTimeLogin: Auth.firstTimeLogin,
      stored: plain(Auth.retrieveData('authHeaders')),
      configure: log.configure,
      events: log.events,
    };
  },
};
