// A Mobile Connect operator played by an independently written, OpenID Certified provider
// (panva/oidc-provider), for mc-tests' interop suite (tests/tests/interop.rs).
//
//   PORT=4000 node provider.mjs
//
// Issuer http://127.0.0.1:$PORT. What it adds to the stock provider, and nothing more:
// - clients `sp-{basic,post,pkjwt}-{rs256,ps256,es256}` (token endpoint authentication x
//   id_token signing alg), `sp-jwtui-{rs256,ps256,es256}` (signed userinfo, same alg) and
//   `sp-plain-oidc` (see at_hash below); redirect URI https://sp.example/callback; secrets
//   from clientSecret() (with characters that Basic auth must form-urlencode); the
//   private_key_jwt clients know the public half of keys/sp-private-key-jwt.pem (kid sp-key-1);
// - scopes mc_authn and mc_identity_phonenumber (phone_number, phone_number_verified),
//   acr_values_supported ["2","3"], the claims parameter, signed userinfo, PKCE allowed but not
//   required, refresh tokens for every client, RFC 9207 iss (always on in v9);
// - a handset instead of a person: the interaction reads login_hint (MSISDN:<digits> or
//   PCR:<sub>) and finishes on its own. MSISDN 447700900009 declines (access_denied); acr is
//   the highest requested of acr_values (default 2), amr SIM_OK at LoA 2 and SIM_PIN at LoA 3;
//   consent is granted automatically. Without a login_hint it shows the page a person would use;
// - at_hash in id_tokens (Mobile Connect requires it; oidc-provider v9 no longer puts it into
//   code-flow id_tokens, which OIDC Core allows), except for `sp-plain-oidc`;
// - POST /_admin/rotate: swap in a provider on the next key set (keys/op-keyset-N.json, new
//   kids; the old keys are no longer published); GET /_admin/stats: request counts per path.
//
// The process exits when its stdin closes, so a test binary that dies cannot leak it.
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const PORT = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(PORT) || PORT <= 0) {
  console.error('provider.mjs: set PORT');
  process.exit(2);
}
const ISSUER = `http://127.0.0.1:${PORT}`;
const REDIRECT_URI = 'https://sp.example/callback';
const DECLINING_MSISDN = '447700900009';
const ACR_VALUES = ['2', '3'];
const ALGS = ['RS256', 'PS256', 'ES256'];

const read = (name) => readFileSync(new URL(`keys/${name}`, import.meta.url));
const KEYSETS = [1, 2].map((n) => JSON.parse(read(`op-keyset-${n}.json`)).keys);
const SP_PUBLIC_JWK = {
  ...createPublicKey(read('sp-private-key-jwt.pem')).export({ format: 'jwk' }),
  kid: 'sp-key-1',
  use: 'sig',
};

/** The client secret of a client (mirrored in tests/src/interop.rs). */
function clientSecret(clientId) {
  return `${clientId} s3cret:+/%&=~`;
}

function clients() {
  const out = [];
  for (const alg of ALGS) {
    const a = alg.toLowerCase();
    const common = {
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: alg,
    };
    out.push({ ...common, client_id: `sp-basic-${a}`, client_secret: clientSecret(`sp-basic-${a}`), token_endpoint_auth_method: 'client_secret_basic' });
    out.push({ ...common, client_id: `sp-post-${a}`, client_secret: clientSecret(`sp-post-${a}`), token_endpoint_auth_method: 'client_secret_post' });
    out.push({
      ...common,
      client_id: `sp-pkjwt-${a}`,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS256',
      jwks: { keys: [SP_PUBLIC_JWK] },
    });
    out.push({
      ...common,
      client_id: `sp-jwtui-${a}`,
      client_secret: clientSecret(`sp-jwtui-${a}`),
      token_endpoint_auth_method: 'client_secret_basic',
      userinfo_signed_response_alg: alg,
    });
  }
  out.push({
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    client_id: 'sp-plain-oidc',
    client_secret: clientSecret('sp-plain-oidc'),
    token_endpoint_auth_method: 'client_secret_basic',
  });
  return out;
}

// Subscribers: the PCR (sub) is a pseudonym of the MSISDN; remember the mapping for claims.
const subscribers = new Map();
function pcrOf(msisdn) {
  const pcr = `pcr-${createHash('sha256').update(`mc-interop:${msisdn}`).digest('base64url').slice(0, 22)}`;
  subscribers.set(pcr, msisdn);
  return pcr;
}

async function findAccount(ctx, sub) {
  const msisdn = subscribers.get(sub);
  if (!msisdn) return undefined;
  return {
    accountId: sub,
    async claims() {
      return { sub, phone_number: `+${msisdn}`, phone_number_verified: true };
    },
  };
}

function configuration(keys) {
  return {
    clients: clients(),
    jwks: { keys },
    cookies: { keys: ['mc-interop-cookie-key: test only, not a secret'] },
    scopes: ['openid', 'offline_access', 'mc_authn', 'mc_identity_phonenumber'],
    claims: {
      // acr and amr ride on every id_token; phone numbers come with the MC identity scope.
      openid: ['sub', 'acr', 'amr'],
      mc_authn: [],
      mc_identity_phonenumber: ['phone_number', 'phone_number_verified'],
      acr: null,
      amr: null,
      auth_time: null,
      iss: null,
      sid: null,
    },
    acrValues: ACR_VALUES,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: {
      idTokenSigningAlgValues: ALGS,
      userinfoSigningAlgValues: ALGS,
      clientAuthSigningAlgValues: ALGS,
    },
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      userinfo: { enabled: true },
      jwtUserinfo: { enabled: true },
    },
    pkce: { required: () => false },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 600,
      IdToken: 600,
      Interaction: 300,
      RefreshToken: 3600,
      Session: 600,
    },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    discovery: {
      login_hint_methods_supported: ['MSISDN', 'PCR'],
      mc_claims_parameter_supported: true,
    },
  };
}

function makeProvider(keys) {
  const provider = new Provider(ISSUER, configuration(keys));
  // Mobile Connect id_tokens carry at_hash. The access token of a code exchange is opaque and
  // its value is its jti; IdToken#issue hashes at_hash with the id_token's algorithm.
  const { IdToken } = provider;
  const issue = IdToken.prototype.issue;
  IdToken.prototype.issue = async function issueWithAtHash(options) {
    const at = this.ctx?.oidc?.entities?.AccessToken;
    if (options?.use === 'idtoken' && at?.jti && this.client?.clientId !== 'sp-plain-oidc') {
      this.set('at_hash', at.jti);
    }
    return issue.call(this, options);
  };
  provider.on('server_error', (ctx, err) => console.error('provider.mjs server_error:', err));
  return provider;
}

let keyset = 0;
let provider = makeProvider(KEYSETS[keyset]);
let handle = provider.callback();
const counts = new Map();

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    const hint = typeof params.login_hint === 'string' ? params.login_hint : '';
    const [method, value] = [hint.slice(0, hint.indexOf(':')), hint.slice(hint.indexOf(':') + 1)];
    let accountId;
    if (method === 'MSISDN' && /^\d{6,15}$/.test(value)) {
      if (value === DECLINING_MSISDN) {
        return provider.interactionFinished(req, res, {
          error: 'access_denied',
          error_description: 'The user declined on the handset',
        }, { mergeWithLastSubmission: false });
      }
      accountId = pcrOf(value);
    } else if (method === 'PCR' && subscribers.has(value)) {
      accountId = value;
    } else {
      // A person would type their number here; the tests always send a login_hint.
      return send(res, 200, 'text/html; charset=utf-8',
        '<!doctype html><title>Mobile number</title><form><input name="msisdn"></form>');
    }
    const requested = String(params.acr_values ?? '').split(' ').filter((v) => ACR_VALUES.includes(v));
    const acr = requested.includes('3') ? '3' : '2';
    return provider.interactionFinished(req, res, {
      login: { accountId, acr, amr: [acr === '3' ? 'SIM_PIN' : 'SIM_OK'], remember: false },
    }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, 'text/plain', `unexpected prompt ${prompt.name}`);
}

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url, ISSUER);
  counts.set(pathname, (counts.get(pathname) ?? 0) + 1);
  if (pathname === '/_admin/rotate' && req.method === 'POST') {
    keyset = (keyset + 1) % KEYSETS.length;
    provider = makeProvider(KEYSETS[keyset]);
    handle = provider.callback();
    return send(res, 200, 'application/json', JSON.stringify({ kids: KEYSETS[keyset].map((k) => k.kid) }));
  }
  if (pathname === '/_admin/stats' && req.method === 'GET') {
    return send(res, 200, 'application/json', JSON.stringify(Object.fromEntries(counts)));
  }
  if (pathname.startsWith('/interaction/') && req.method === 'GET') {
    return interaction(req, res).catch((err) => {
      console.error('provider.mjs interaction:', err);
      if (!res.headersSent) send(res, 500, 'text/plain', String(err?.message ?? err));
    });
  }
  return handle(req, res);
});

server.on('error', (err) => {
  console.error(`provider.mjs: ${err.message}`);
  process.exit(err.code === 'EADDRINUSE' ? 3 : 1);
});
server.listen(PORT, '127.0.0.1', () => {
  console.log(`provider.mjs: ${ISSUER} ready`);
});

// Exit with the parent: the test harness holds our stdin open while it runs.
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
