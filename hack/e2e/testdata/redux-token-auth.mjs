// redux-token-auth.mjs drives the real npm package redux-token-auth 0.19.0, unchanged, against
// the deviseToken dialect of two replicas, the way an app does: a Redux store with the package's
// reducer and redux-thunk, and the package's generated actions dispatched on it. The package
// sends its requests through its own axios and keeps the auth headers in localStorage, which Node
// lacks: a minimal in-memory localStorage stands in for the browser's, and is also where this
// script reads the headers the package kept, as an app would.
//
// Two observers record what happened without changing it: a Redux middleware notes the actions
// the package dispatched (its verifyToken swallows failures, so the actions are how a failed
// validation shows), and an axios response interceptor on the package's own axios instance notes
// each request's status.
//
// Usage: node redux-token-auth.mjs '{"replicas":["http://127.0.0.1:A","http://127.0.0.1:B"],
//   "prefix":"/auth","email":"…","password":"…","firstName":"…","lastName":"…",
//   "batchBufferMs":2000}'
//
// It prints one JSON object on stdout: the store's state and the kept headers after each step.
// It asserts nothing itself: the Go test does, so that a failure names what the server did.
//
// With "stored" and "plan" instead of the registration's fields, it is an app started again
// (a page loaded anew): localStorage holds the auth headers a previous run of the app left there
// (say, a devise app's before the cutover to Latch), axios holds none, and the app runs the plan:
//
//   node redux-token-auth.mjs '{"replicas":[…],"prefix":"/auth","stored":{"access-token":"…",
//     "client":"…","uid":"…","expiry":"…","token-type":"Bearer"},"plan":[{"step":"start",
//     "do":"verifyCredentials","replica":0},{"step":"…","do":"signIn","replica":1,
//     "email":"…","password":"…","afterMs":5500},{"step":"…","do":"signOut","replica":0}]}'
//
// verifyCredentials is what an app calls when it starts; afterMs waits before the step.

// The package reads and writes localStorage as a global.
class MemoryStorage {
  #items = new Map();
  getItem(k) { return this.#items.has(k) ? this.#items.get(k) : null; }
  // Browsers store strings: the package stores response headers, undefined when one is missing,
  // which a browser would keep as "undefined". Keeping the same makes a missing header visible.
  setItem(k, v) { this.#items.set(k, String(v)); }
  removeItem(k) { this.#items.delete(k); }
  clear() { this.#items.clear(); }
}
globalThis.localStorage = new MemoryStorage();

const { createStore, combineReducers, applyMiddleware } = (await import('redux')).default;
const thunkModule = (await import('redux-thunk')).default;
const { generateAuthActions, reduxTokenAuthReducer } = (await import('redux-token-auth')).default;
// The same module instance the package requires (one hoisted copy, pinned in package.json).
const axios = (await import('axios')).default;

// redux-thunk 2 is CommonJS with the middleware as its default export.
const thunk = thunkModule.default ?? thunkModule;

const cfg = JSON.parse(process.argv[2]);

// The app's configuration of the package: frontend attribute names to the backend's.
const userAttributes = { id: 'id', firstName: 'first_name', lastName: 'last_name', email: 'email', uid: 'uid' };
const userRegistrationAttributes = { firstName: 'first_name', lastName: 'last_name' };

// One action set per replica: the same app behind two servers of one realm (as behind a load
// balancer), sharing one store, one localStorage and one axios.
const replica = cfg.replicas.map((base) => generateAuthActions({
  authUrl: base + cfg.prefix,
  userAttributes,
  userRegistrationAttributes,
}));

// The observers' records of the current step.
let actions = [];
let requests = [];
const recordActions = () => (next) => (action) => {
  if (action && typeof action.type === 'string') actions.push(action.type);
  return next(action);
};
const record = (config, status) => requests.push({ method: config.method.toUpperCase(), url: config.url, status });
axios.interceptors.response.use(
  (resp) => { record(resp.config, resp.status); return resp; },
  (err) => { if (err.config) record(err.config, err.response ? err.response.status : null); return Promise.reject(err); },
);

const store = createStore(combineReducers({ reduxTokenAuth: reduxTokenAuthReducer }), applyMiddleware(thunk, recordActions));

const headerKeys = ['access-token', 'token-type', 'client', 'expiry', 'uid'];
const kept = () => Object.fromEntries(headerKeys.map((k) => [k, localStorage.getItem(k)]));
const user = () => store.getState().reduxTokenAuth.currentUser;

// step runs one dispatched action and records its outcome; a rejected promise (the package
// rethrows axios errors from register, sign in and sign out) is an outcome too.
async function step(name, replicaIndex, run) {
  const started = Date.now();
  actions = [];
  requests = [];
  let error = null;
  try {
    await run();
  } catch (e) {
    error = { message: e.message, status: e.response ? e.response.status : null, body: e.response ? e.response.data : null };
  }
  const u = user();
  return {
    step: name,
    replica: replicaIndex,
    ms: Date.now() - started,
    error,
    actions,
    requests,
    isSignedIn: u.isSignedIn,
    isLoading: u.isLoading,
    attributes: u.attributes,
    headers: kept(),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const steps = [];
const [a, b] = [0, 1];

if (cfg.plan) {
  await resume();
} else {
  await registerAndRotate();
}
process.stdout.write(JSON.stringify({ steps }) + '\n');

// registerAndRotate is the default run: a new user's whole session.
async function registerAndRotate() {
  // 1. Register on replica A: the package keeps the new session's headers.
  steps.push(await step('register', a, () => store.dispatch(replica[a].registerUser({
    email: cfg.email,
    password: cfg.password,
    passwordConfirmation: cfg.password,
    firstName: cfg.firstName,
    lastName: cfg.lastName,
  }))));

  // 2. Sign in on replica B: a second device session (client) of the same user.
  steps.push(await step('signIn', b, () => store.dispatch(replica[b].signInUser({ email: cfg.email, password: cfg.password }))));

  // 3. Validate at once on replica A, as an app does on start (verifyCredentials reads the kept
  // headers and dispatches verifyToken). Inside the batch buffer the server echoes the current
  // token: the package stores whatever headers come back, so a blank one would sign the app out
  // on its next request.
  steps.push(await step('validateInBuffer', a, async () => {
    replica[a].verifyCredentials(store);
    await waitIdle();
  }));

  // 4. Past the batch buffer, validate on replica B: the token rotates.
  await sleep(cfg.batchBufferMs + 500);
  steps.push(await step('validateRotated', b, async () => {
    replica[b].verifyCredentials(store);
    await waitIdle();
  }));

  // 5. Sign out on replica A, with the credentials the package kept (it sends them in the body).
  const beforeSignOut = kept();
  steps.push(await step('signOut', a, () => store.dispatch(replica[a].signOutUser())));

  // 6. The token that was current at sign-out no longer validates, on either replica.
  for (const r of [a, b]) {
    steps.push(await step('validateAfterSignOut', r, () => store.dispatch(replica[r].verifyToken({
      'access-token': beforeSignOut['access-token'],
      client: beforeSignOut.client,
      uid: beforeSignOut.uid,
    }))));
  }
}

// waitIdle waits for the verifyToken dispatched by verifyCredentials, which returns nothing to
// await: the reducer's isLoading says when it is over.
async function waitIdle() {
  await sleep(0);
  const deadline = Date.now() + 15000;
  while (user().isLoading) {
    if (Date.now() > deadline) throw new Error('verifyToken still loading after 15s');
    await sleep(10);
  }
}

// resume is the app started again with cfg.stored in its localStorage, running cfg.plan.
async function resume() {
  for (const [k, v] of Object.entries(cfg.stored)) localStorage.setItem(k, v);
  const run = {
    verifyCredentials: (r) => async () => {
      replica[r].verifyCredentials(store);
      await waitIdle();
    },
    signIn: (r, s) => () => store.dispatch(replica[r].signInUser({ email: s.email, password: s.password })),
    signOut: (r) => () => store.dispatch(replica[r].signOutUser()),
  };
  for (const s of cfg.plan) {
    if (!run[s.do]) throw new Error(`unknown plan step ${JSON.stringify(s)}`);
    if (s.afterMs) await sleep(s.afterMs);
    steps.push(await step(s.step, s.replica, run[s.do](s.replica, s)));
  }
}
