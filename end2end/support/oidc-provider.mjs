// Keycloak look-alike OpenID Connect provider for Roster's end-to-end tests.
// Built on npm `oidc-provider` (9.x). In-memory only: keys, sessions and tokens vanish on exit.
//
//   node end2end/support/oidc-provider.mjs [--port 4011] [--realm roster-test]
//        [--client-id roster] [--client-secret roster-test-secret] [--users path/to/users.json]
//   (env fallbacks: OIDC_PORT, OIDC_REALM, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_USERS;
//    --port 0 picks a free port, read it from the ready line)
//
// Prints `oidc-provider ready http://127.0.0.1:PORT/realms/REALM` once listening.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import Provider from 'oidc-provider';

console.info = console.error; // oidc-provider NOTICEs go to stderr; stdout carries only the ready line
const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const { values: opt } = parseArgs({
  options: {
    port: { type: 'string', default: env.OIDC_PORT || '4011' },
    realm: { type: 'string', default: env.OIDC_REALM || 'roster-test' },
    'client-id': { type: 'string', default: env.OIDC_CLIENT_ID || 'roster' },
    'client-secret': { type: 'string', default: env.OIDC_CLIENT_SECRET || 'roster-test-secret' },
    users: { type: 'string', default: env.OIDC_USERS || path.join(here, 'users.json') },
  },
});
// Listen first so that `--port 0` (any free port) works: the issuer needs the real port.
const server = http.createServer((req, res) => handle(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject).listen(Number(opt.port), '127.0.0.1', resolve);
});
const PORT = server.address().port;
const CLIENT_ID = opt['client-id'];
const BASE = `/realms/${opt.realm}`; // mount path; the issuer has no trailing slash
const ISSUER = `http://127.0.0.1:${PORT}${BASE}`;
const KC = '/protocol/openid-connect';
const users = JSON.parse(fs.readFileSync(opt.users, 'utf8'));
const byId = (sub) => users.find((u) => u.sub === sub);

// Fresh RS256 signing key per start (never stored anywhere).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

// Any loopback http URI on any port (Rust tests bind random ports).
const loopback = (uri, pathPred) => {
  try {
    const u = new URL(uri);
    return u.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(u.hostname) && !u.hash && pathPred(u.pathname);
  } catch { return false; }
};

const SCOPE = 'openid profile email';
// More clients of the realm, for the REST API's token checks: a phone app Roster accepts
// (`roster-mobile`), another application it must refuse (`other-app`), one whose access
// tokens live two seconds (`roster-expiring`), and one whose access tokens carry no profile
// and no realm roles (`roster-narrow`, like a Keycloak client without those scopes). They
// share one secret.
const EXTRA_CLIENTS = ['roster-mobile', 'other-app', 'roster-expiring', 'roster-narrow'];
const EXTRA_CLIENT_SECRET = 'extra-client-secret';
const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username', 'given_name', 'family_name'],
};
async function findAccount(ctx, sub) {
  const u = byId(sub);
  // A disabled account (see the test-admin route) is unknown: refresh tokens stop working.
  if (!u || u.disabled) return undefined;
  const [given, ...rest] = u.name.split(' ');
  return {
    accountId: sub,
    // NB: no realm_access here -> roles never reach the ID token or userinfo.
    claims: async () => ({
      sub, email: u.email, email_verified: true, name: u.name,
      preferred_username: u.username, given_name: given, family_name: rest.join(' '),
    }),
  };
}
const provider = new Provider(ISSUER, {
  clients: [CLIENT_ID, ...EXTRA_CLIENTS].map((clientId) => ({
    client_id: clientId,
    client_secret: clientId === CLIENT_ID ? opt['client-secret'] : EXTRA_CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_basic', // client_secret_post is accepted too
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [`http://127.0.0.1:${PORT + 1}/auth/callback`], // placeholder; see redirectUriAllowed below
    post_logout_redirect_uris: [`http://127.0.0.1:${PORT + 1}/`],
  })),
  jwks: { keys: [jwk] },
  // Plain-http cookies (no `secure`), scoped to the realm path: the app on another port of
  // 127.0.0.1 shares the browser cookie jar (cookies ignore ports) and must not see/clobber them.
  cookies: {
    keys: [crypto.randomBytes(32).toString('hex')],
    long: { httpOnly: true, sameSite: 'lax', path: BASE },
  },
  pkce: { required: () => true, methods: ['S256'] },
  allowOmittingSingleRegisteredRedirectUri: false, // like Keycloak: redirect_uri is mandatory
  conformIdTokenClaims: false, // put profile/email claims into the ID token (Keycloak does)
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  claims: CLAIMS,
  routes: {
    authorization: `${KC}/auth`,
    token: `${KC}/token`,
    jwks: `${KC}/certs`,
    userinfo: `${KC}/userinfo`,
    end_session: `${KC}/logout`,
    introspection: `${KC}/token/introspect`,
    revocation: `${KC}/revoke`,
  },
  interactions: { url: (ctx, interaction) => `${BASE}/login-actions/${interaction.uid}` },
  findAccount,
  ttl: {
    AuthorizationCode: 60,
    // Two seconds for the `roster-expiring` client (the REST API's expiry test), else five minutes.
    AccessToken: (ctx, token, client) => (client?.clientId === 'roster-expiring' ? 2 : 300),
    IdToken: 300, RefreshToken: 1800, Interaction: 1800, Session: 36000, Grant: 36000 },
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'), // Keycloak always issues one
  // No consent screen (Keycloak default): grant everything requested, every time.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    const grant = (grantId && await oidc.provider.Grant.find(grantId))
      || new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.account.accountId });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
    for (const [resource, rs] of Object.entries(oidc.resourceServers || {})) grant.addResourceScope(resource, rs.scope);
    await grant.save();
    return grant;
  },
  // Access tokens are Keycloak-style JWTs carrying realm roles.
  async extraTokenClaims(ctx, token) {
    const u = byId(token.accountId);
    if (u && token.clientId === 'roster-narrow') return { azp: token.clientId, typ: 'Bearer' };
    return u && {
      azp: token.clientId, typ: 'Bearer', realm_access: { roles: [...u.roles] },
      preferred_username: u.username, email: u.email, email_verified: true, name: u.name,
    };
  },
  formats: { customizers: { jwt: (ctx, token, jwt) => { jwt.header = { typ: 'JWT' }; } } },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // JWT access tokens require a resource server. Every authorization request (with or
    // without `resource`) resolves to the issuer as resource; the token endpoint re-uses it.
    resourceIndicators: {
      enabled: true,
      defaultResource: () => ISSUER,
      useGrantedResource: () => true,
      // Each client's tokens name that client as audience (and as `azp`, like Keycloak).
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: SCOPE, audience: client.clientId, accessTokenFormat: 'jwt',
        accessTokenTTL: client?.clientId === 'roster-expiring' ? 2 : 300, jwt: { sign: { alg: 'RS256' } },
      }),
    },
    rpInitiatedLogout: {
      enabled: true,
      // Keycloak (with id_token_hint) logs out without asking: auto-submit the confirm form.
      // The form carries logout=yes (end the whole provider session); button for no-JS clients.
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Logging out</title></head><body>
${form.replace('</form>', '<input type="hidden" name="logout" value="yes"/><button type="submit" id="kc-logout">Logout</button></form>')}
<script>document.forms[0].submit()</script></body></html>`;
      },
    },
  },
});

// Accept any loopback callback / post-logout URI, any port.
provider.Client.prototype.redirectUriAllowed = (uri) => loopback(uri, (p) => p === '/auth/callback');
provider.Client.prototype.postLogoutRedirectUriAllowed = (uri) => loopback(uri, () => true);
provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const loginPage = (uid, username = '', error = '') => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in to ${esc(opt.realm)}</title></head><body>
<h1 id="kc-page-title">Sign in to your account</h1>
${error ? `<div class="alert-error" id="input-error" role="alert">${esc(error)}</div>` : ''}
<form id="kc-form-login" method="post" action="${BASE}/login-actions/${esc(uid)}">
  <label for="username">Username or email</label>
  <input id="username" name="username" type="text" value="${esc(username)}" autofocus autocomplete="username">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password">
  <button id="kc-login" name="login" type="submit">Sign In</button>
</form></body></html>`;

const readForm = async (req) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
};
const send = (res, status, html) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
};

// Login UI: GET shows the form, POST checks users.json. Consent is always automatic.
async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'interaction mismatch');
  if (details.prompt.name === 'consent') { // normally skipped thanks to loadExistingGrant
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope || 'openid');
    for (const [r, s] of Object.entries(details.prompt.details.missingResourceScopes || {})) grant.addResourceScope(r, s.join(' '));
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
  if (req.method !== 'POST') return send(res, 200, loginPage(uid, details.params.login_hint || ''));
  const form = await readForm(req);
  const name = (form.get('username') || '').trim().toLowerCase();
  const user = users.find((u) => u.username === name || u.email.toLowerCase() === name);
  if (!user || user.password !== form.get('password')) {
    return send(res, 200, loginPage(uid, form.get('username') || '', 'Invalid username or password.'));
  }
  return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
}

// Userinfo, Keycloak-style: accepts our JWT access tokens (oidc-provider's own userinfo
// refuses tokens that carry an audience). Stateless check: signature, iss, exp, typ.
const publicKey = crypto.createPublicKey(privateKey);
async function userinfo(req, res) {
  let at;
  try {
    const [h, p, sig] = (/^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '') || [])[1].split('.');
    const c = JSON.parse(Buffer.from(p, 'base64url'));
    const ok = JSON.parse(Buffer.from(h, 'base64url')).alg === 'RS256'
      && crypto.verify('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(sig, 'base64url'));
    if (ok && c.iss === ISSUER && c.typ === 'Bearer' && c.exp > Date.now() / 1000) at = c;
  } catch { /* malformed -> 401 below */ }
  const account = at && await findAccount(null, at.sub);
  if (!account) {
    res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': `Bearer realm="${opt.realm}", error="invalid_token"` });
    return res.end(JSON.stringify({ error: 'invalid_token', error_description: 'Token verification failed' }));
  }
  const all = await account.claims();
  const scopes = new Set(['openid', ...at.scope.split(' ')]);
  const out = Object.fromEntries(Object.entries(CLAIMS).filter(([sc]) => scopes.has(sc)).flatMap(([, names]) => names.map((n) => [n, all[n]])));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  return res.end(JSON.stringify(out));
}

// Test administration, as Keycloak's admin console would do it: POST
// /realms/R/test-admin/users/<username> with JSON {"roles": [...], "enabled": bool} changes a
// user's realm roles or disables the account (its refresh tokens stop working).
async function testAdmin(req, res, username) {
  const user = users.find((u) => u.username === username);
  if (!user || req.method !== 'POST') return send(res, 404, 'no such user');
  let body = '';
  for await (const chunk of req) body += chunk;
  const change = JSON.parse(body || '{}');
  if (Array.isArray(change.roles)) user.roles = change.roles;
  if (typeof change.enabled === 'boolean') user.disabled = !change.enabled;
  res.writeHead(204);
  return res.end();
}

const callback = provider.callback();
async function handle(req, res) {
  try {
    const url = new URL(req.url, ISSUER);
    if (url.pathname !== BASE && !url.pathname.startsWith(`${BASE}/`)) return send(res, 404, 'not found');
    if (url.pathname.startsWith(`${BASE}/test-admin/users/`)) {
      return await testAdmin(req, res, decodeURIComponent(url.pathname.slice(`${BASE}/test-admin/users/`.length)));
    }
    if (url.pathname.startsWith(`${BASE}/login-actions/`)) {
      return await interaction(req, res, url.pathname.slice(`${BASE}/login-actions/`.length));
    }
    if (url.pathname === `${BASE}${KC}/userinfo`) return await userinfo(req, res);
    // Keycloak applies its default client scopes (profile, email) to every openid request.
    if (req.method === 'GET' && url.pathname === `${BASE}${KC}/auth` && url.searchParams.has('scope')) {
      const scopes = new Set(url.searchParams.get('scope').split(' '));
      if (scopes.has('openid')) { scopes.add('profile'); scopes.add('email'); }
      url.searchParams.set('scope', [...scopes].join(' '));
    }
    // Mount like express does: strip the prefix, keep originalUrl for URL generation.
    req.originalUrl = url.pathname + url.search;
    req.url = (url.pathname.slice(BASE.length) || '/') + url.search;
    return await callback(req, res);
  } catch (err) {
    console.error('oidc-provider request failed:', err);
    if (!res.headersSent) send(res, 400, esc(err.message));
  }
}

process.stdout.write(`oidc-provider ready ${ISSUER}\n`);
const stop = () => server.close(() => process.exit(0)) && server.closeAllConnections();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
