// app.jsx is the smallest app that uses @fantaptik/react-auth as its documentation wires it: a
// Redux store holding the package's Reducer, the package's own connected LoginForm, Guest and
// Authenticated components, and its SocketPlugin on a @fantaptik/socket Socket with the Id
// enveloper. Nothing of the packages is patched or re-implemented.
//
// The page is told which server to use by its query string (?server=http://127.0.0.1:PORT&
// prefix=/react-auth), so the test can open one page per replica. Pages of one origin share
// localStorage, through which the package's LoginForm tells the other tabs of a login.
import React from 'react';
import ReactDOM from 'react-dom';
import { createStore, combineReducers } from 'redux';
import { Provider, connect } from 'react-redux';
import 'materialize-css/dist/css/materialize.min.css';
import { Socket, Enveloper } from '@fantaptik/socket';
import { Reducer, SocketPlugin, Components } from '@fantaptik/react-auth';

const params = new URLSearchParams(window.location.search);
const server = params.get('server');
const prefix = (params.get('prefix') || '/react-auth').replace(/\/$/, '');
const httpURL = server + prefix;
const socketURL = server.replace(/^http/, 'ws') + prefix + '/socket';

const store = createStore(combineReducers({ auth: Reducer }));

// The plugin resumes the session on the socket whenever it connects (and the Socket reconnects
// every second by default), and returns the app to guest when the server pushes close.
const plugin = new SocketPlugin();
const socket = new Socket({
  uriProvider: () => socketURL,
  enveloper: new Enveloper.Id(),
  plugins: [plugin],
});

// Whoami shows the signed-in user, from the package's slice of the store.
const Whoami = connect((state) => ({ user: state.auth.user }))(({ user }) => (
  <p id="whoami">Signed in as <b>{user && user.login}</b> (user {user && user.id})</p>
));

const App = () => (
  <div className="container">
    <h5 id="server">Latch reactAuth at {httpURL}</h5>
    <Components.LoginForm uriLogin={httpURL} />
    <Components.Guest>
      <p id="guest">Guest</p>
    </Components.Guest>
    <Components.Authenticated>
      <div className="card-panel" id="authenticated">
        <Whoami />
        <button id="logout" className="btn" onClick={() => plugin.logout()}>Log out</button>
      </div>
    </Components.Authenticated>
  </div>
);

ReactDOM.render(<Provider store={store}><App /></Provider>, document.getElementById('root'));

// The test reads the app's state from here; it never writes to it.
window.e2e = { store, socket, socketURL, httpURL };
