// A real OpenID Provider (npm `oidc-provider`) for Squall's single sign-on tests.
//
//   npm ci --prefix tests/oidc            # once; tests/oidc_provider.py does it for you
//   node tests/oidc/provider.js '<json>'
//
// The single argument is JSON (port 0 = pick a free port; the issuer is always
// http://127.0.0.1:<port>):
//   {"port": 0,
//    "client": {"client_id": "squall", "client_secret": "…",
//               "redirect_uris": ["http://127.0.0.1:8080/auth/callback"],
//               "post_logout_redirect_uris": ["http://127.0.0.1:8080/"],
//               "token_endpoint_auth_method": "client_secret_basic"},  // or client_secret_post
//    "accounts": {"alice": {"groups": ["ops-admins"], "email": "alice@example.com", "name": "Alice"}}}
//
// Optional "watch_stdin": true makes it exit when its stdin reaches EOF, i.e. when the parent
// holding the pipe dies (tests/oidc_provider.py sets it).
// Prints `ready <issuer>` on stdout once listening; everything else goes to stderr.
// Exits cleanly on SIGTERM/SIGINT.
//
// Behaviour for tests:
// - Code flow only, PKCE S256 required, scopes `openid email profile groups`; the ID token
//   carries sub, email, email_verified, name, preferred_username (the account id), groups.
// - No login form: GET /interaction/:uid logs in the account named by `login_hint` (unknown
//   or missing: HTML 400) and grants consent automatically. A `login_hint` naming another
//   account than the current session's forces a new login as that account.
// - Logout: GET or POST /session/end is answered with redirects only (no confirmation page):
//   the whole provider session ends and the browser lands on `post_logout_redirect_uri`
//   (needs `id_token_hint` or `client_id`) or on /session/end/success.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { interactionPolicy } from 'oidc-provider';

const config = JSON.parse(process.argv[2] ?? '{}');
const accounts = config.accounts ?? {};

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (ctx, status, title, text) => {
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1><p>${escape(text)}</p></body></html>`;
};

// A login_hint naming another account than the session's triggers a new login.
const { Check, base } = interactionPolicy;
const policy = base();
policy.get('login').checks.add(new Check(
  'login_hint_other_account',
  'login_hint names another account',
  ({ oidc }) => (oidc.params.login_hint !== undefined && oidc.session.accountId
    && oidc.params.login_hint !== oidc.session.accountId
    ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT),
));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const day = 24 * 60 * 60;

function start(issuer) {
  const provider = new Provider(issuer, {
    clients: [{
      ...config.client,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: config.client?.token_endpoint_auth_method ?? 'client_secret_basic',
    }],
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false, // put the scope-requested claims into the ID token too
    pkce: { methods: ['S256'], required: () => true },
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        // Replaced by a redirect (see below); only the form stays, should a browser ever see it.
        async logoutSource(ctx, form) {
          ctx.body = `<!DOCTYPE html><html><body>${form}<button form="op.logoutForm" name="logout" value="yes">Sign out</button></body></html>`;
        },
        async postLogoutSuccessSource(ctx) {
          page(ctx, 200, 'Signed out', 'You are signed out.');
        },
      },
    },
    interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: {
      keys: ['squall-test-oidc-cookie-key-1'],
      names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' }] },
    ttl: {
      AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600, Session: day, Grant: day,
    },
    async findAccount(ctx, id) {
      const account = accounts[id];
      return account && {
        accountId: id,
        claims: () => ({
          sub: id,
          email: account.email,
          email_verified: true,
          name: account.name,
          preferred_username: id,
          groups: account.groups ?? [],
        }),
      };
    },
    async renderError(ctx, out) {
      page(ctx, ctx.status || 400, out.error, out.error_description ?? '');
    },
  });

  // The interaction "UI": no form, the user is whoever login_hint names; consent is automatic.
  async function interact(ctx) {
    const { prompt, params, session, grantId } = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (prompt.name === 'login') {
      const hint = params.login_hint;
      if (!hint || !Object.hasOwn(accounts, hint)) {
        page(ctx, 400, 'Unknown account', hint ? `No test account named "${hint}".` : 'The login_hint parameter is missing.');
        return;
      }
      result = { login: { accountId: hint } };
    } else if (prompt.name === 'consent') {
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
    } else {
      page(ctx, 400, 'Unsupported prompt', prompt.name);
      return;
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.redirect(returnTo);
    ctx.status = 303;
  }

  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && /^\/interaction\/[^/]+$/.test(ctx.path)) {
      try {
        await interact(ctx);
      } catch (err) { // e.g. an expired interaction or a request without its cookie
        page(ctx, err.statusCode ?? 500, err.error ?? 'server_error', err.error_description ?? err.message);
      }
      return;
    }

    // Logout without the confirmation page. The provider answers /session/end (and a login
    // as another account than the session's, on the resume route) with a form that POSTs
    // {xsrf, logout: 'yes'} to /session/end/confirm. Redirect there with GET instead, and hand
    // the route those values as an already parsed body (supported for upstream body parsers).
    if (ctx.method === 'GET' && ctx.path === '/session/end/confirm') {
      for await (const chunk of ctx.req); // eslint-disable-line no-empty, no-unused-vars
      const body = new URLSearchParams({ xsrf: ctx.query.xsrf ?? '', logout: 'yes' }).toString();
      ctx.method = 'POST';
      ctx.req.headers['content-type'] = 'application/x-www-form-urlencoded';
      ctx.req.headers['content-length'] = String(body.length);
      ctx.request.body = body;
    }
    await next();
    const { route, session } = ctx.oidc ?? {};
    if (['end_session', 'resume'].includes(route) && ctx.status === 200 && session?.state?.secret) {
      ctx.redirect(`/session/end/confirm?xsrf=${session.state.secret}`);
      ctx.status = 303;
    }
  });
  return provider;
}

const fail = (err) => {
  console.error(err);
  process.exit(1);
};
const server = createServer();
server.on('error', fail);
server.listen(config.port ?? 0, '127.0.0.1', async () => {
  try {
    const issuer = `http://127.0.0.1:${server.address().port}`;
    const provider = start(issuer);
    await provider.Client.find(config.client?.client_id); // validates the client now, not later
    server.on('request', provider.callback());
    process.stdout.write(`ready ${issuer}\n`);
  } catch (err) {
    fail(err);
  }
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (config.watch_stdin) process.stdin.on('end', stop).on('error', stop).resume();
