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
//   required, refresh tokens for every client (but see sp-refresh* below), RFC 9207 iss (always
//   on in v9);
// - refresh and revocation: rotating refresh tokens (rotateRefreshToken: a refresh token is
//   spent by its use; using it again is invalid_grant and revokes the whole grant, which is
//   oidc-provider's reuse detection) and RFC 7009 revocation (features.revocation, at
//   /token/revocation; revoking either token revokes every token of its grant, as RFC 7009 2.1
//   allows). Clients `sp-refresh`, `sp-refresh-new-sub` and `sp-refresh-new-iss`
//   (client_secret_basic, RS256) get refresh tokens by oidc-provider's stock rule only: when the
//   login asked for offline_access with prompt=consent;
// - misbehaviour switches, per client: the id_token of a refresh (never of the login) is edited
//   and signed again with the genuine key, so only OIDC Core 12.2's comparison with the first
//   id_token can catch it: `sp-refresh-new-sub` another `sub` (`<sub>-other`),
//   `sp-refresh-new-iss` another `iss` (IMPOSTOR_ISSUER);
// - a handset instead of a person: the interaction reads login_hint (MSISDN:<digits> or
//   PCR:<sub>) and finishes on its own. MSISDN 447700900009 declines (access_denied); acr is
//   the highest requested of acr_values (default 2), amr SIM_OK at LoA 2 and SIM_PIN at LoA 3;
//   consent is granted automatically. Without a login_hint it shows the page a person would use;
// - at_hash in id_tokens (Mobile Connect requires it; oidc-provider v9 no longer puts it into
//   code-flow id_tokens, which OIDC Core allows), except for `sp-plain-oidc`;
// - POST /_admin/rotate: swap in a provider on the next key set (keys/op-keyset-N.json, new
//   kids; the old keys are no longer published); GET /_admin/stats: request counts per path;
// - OpenID CIBA (features.ciba, poll and ping) for clients of its own, without redirect URIs:
//   `sp-ciba-basic` (poll, client_secret_basic, RS256 id_tokens), `sp-ciba-pkjwt` (poll,
//   private_key_jwt with the SP's public JWKS as mc-core publishes it, keys/sp-jwks.json,
//   ES256), `sp-ciba-ping` (ping, client_secret_basic, PS256), `sp-ciba-ping-pkjwt` (ping,
//   private_key_jwt, RS256); refresh tokens as for the others. The ping clients' notification
//   endpoint is https://sp.example/ciba/notify; POST /_admin/sp-origin?origin=http://127.0.0.1:P
//   says where that SP really listens (oidc-provider registers https notification endpoints
//   only and refuses to call loopback addresses, so `fetch` rewrites and lets through this one
//   origin);
// - a CIBA handset: the login hint is `tel:+<digits>` (the CAMARA form; anything else is
//   unknown_user_id), and the handset answers CIBA_ANSWER_MS after the request, so that the
//   first poll finds authorization_pending: MSISDN 447700900009 declines (access_denied),
//   447700900007 never answers (the request expires; requested_expiry is honoured), every
//   other number approves, acr and amr as in the browser flow. oidc-provider then pings a ping
//   client;
// - CIBA pacing, which oidc-provider lacks (it answers /backchannel without `interval` and never
//   answers slow_down): poll clients' answers get `interval: CIBA_INTERVAL_S` (ping clients'
//   stay without, so CIBA's 5 s apply); a poll of a pending request sooner than the interval
//   after the request or the previous poll, in whole seconds, is answered slow_down, and the
//   interval grows by 5 s (CIBA Core 11); /_admin/stats counts those answers as `slow_down`.
//
// The process exits when its stdin closes, so a test binary that dies cannot leak it.
import {
  constants, createHash, createPrivateKey, createPublicKey, sign,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

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
const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
const CIBA_INTERVAL_S = 1;
const CIBA_ANSWER_MS = 2000;
const CIBA_DEFAULT_EXPIRY_S = 60;
const SILENT_MSISDN = '447700900007';
const SP_ORIGIN = 'https://sp.example';
const CIBA_NOTIFY_URI = `${SP_ORIGIN}/ciba/notify`;
const IMPOSTOR_ISSUER = 'https://impostor.example';
// The misbehaviour switches: how a client's refreshed id_token is edited (see the header).
const REFRESH_EDITS = new Map([
  ['sp-refresh-new-sub', (claims) => ({ ...claims, sub: `${claims.sub}-other` })],
  ['sp-refresh-new-iss', (claims) => ({ ...claims, iss: IMPOSTOR_ISSUER })],
]);
// The clients that get refresh tokens by the stock rule (offline_access, prompt=consent).
const STOCK_REFRESH_CLIENTS = new Set(['sp-refresh', ...REFRESH_EDITS.keys()]);

const read = (name) => readFileSync(new URL(`keys/${name}`, import.meta.url));
const KEYSETS = [1, 2].map((n) => JSON.parse(read(`op-keyset-${n}.json`)).keys);
const SP_PUBLIC_JWK = {
  ...createPublicKey(read('sp-private-key-jwt.pem')).export({ format: 'jwk' }),
  kid: 'sp-key-1',
  use: 'sig',
};
// The same public key as mc-core's SpSigningKey::jwks writes it (tests/tests/interop.rs checks).
const SP_JWKS = JSON.parse(read('sp-jwks.json'));

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
  for (const client_id of STOCK_REFRESH_CLIENTS) {
    out.push({
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      client_id,
      client_secret: clientSecret(client_id),
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
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
  const ciba = (client_id, mode, auth, alg) => ({
    client_id,
    redirect_uris: [],
    response_types: [],
    grant_types: [CIBA_GRANT, 'refresh_token'],
    id_token_signed_response_alg: alg,
    backchannel_token_delivery_mode: mode,
    ...(mode === 'ping' ? { backchannel_client_notification_endpoint: CIBA_NOTIFY_URI } : {}),
    ...(auth === 'private_key_jwt'
      ? { token_endpoint_auth_method: auth, token_endpoint_auth_signing_alg: 'RS256', jwks: SP_JWKS }
      : { token_endpoint_auth_method: auth, client_secret: clientSecret(client_id) }),
  });
  out.push(ciba('sp-ciba-basic', 'poll', 'client_secret_basic', 'RS256'));
  out.push(ciba('sp-ciba-pkjwt', 'poll', 'private_key_jwt', 'ES256'));
  out.push(ciba('sp-ciba-ping', 'ping', 'client_secret_basic', 'PS256'));
  out.push(ciba('sp-ciba-ping-pkjwt', 'ping', 'private_key_jwt', 'RS256'));
  return out;
}

// Subscribers: the PCR (sub) is a pseudonym of the MSISDN; remember the mapping for claims.
const subscribers = new Map();
function pcrOf(msisdn) {
  const pcr = `pcr-${createHash('sha256').update(`mc-interop:${msisdn}`).digest('base64url').slice(0, 22)}`;
  subscribers.set(pcr, msisdn);
  return pcr;
}

/** The MSISDN of a CIBA login hint in the CAMARA form `tel:+<digits>`, else undefined. */
function cibaMsisdn(loginHint) {
  return /^tel:\+(\d{6,15})$/.exec(loginHint)?.[1];
}

/**
 * The handset of a CIBA login: it answers CIBA_ANSWER_MS after the request (so that the first
 * poll finds authorization_pending), by the MSISDN of the login hint. oidc-provider pings a ping
 * client's notification endpoint itself once the result is in.
 */
function cibaHandset(provider, request, account) {
  const msisdn = subscribers.get(account.accountId);
  if (msisdn === SILENT_MSISDN) return;
  const id = request.jti;
  setTimeout(() => {
    cibaAnswer(provider, id, msisdn).catch((err) => console.error('provider.mjs ciba handset:', err));
  }, CIBA_ANSWER_MS);
}

async function cibaAnswer(provider, id, msisdn) {
  const request = await provider.BackchannelAuthenticationRequest.find(id, { ignoreExpiration: true });
  if (!request || request.isExpired) return;
  if (msisdn === DECLINING_MSISDN) {
    return provider.backchannelResult(request, new errors.AccessDenied('The user declined on the handset'));
  }
  const requested = String(request.params.acr_values ?? '').split(' ').filter((v) => ACR_VALUES.includes(v));
  const acr = requested.includes('3') ? '3' : '2';
  const grant = new provider.Grant({ accountId: request.accountId, clientId: request.clientId });
  grant.addOIDCScope(request.scope);
  await grant.save();
  return provider.backchannelResult(request, grant, {
    acr,
    amr: [acr === '3' ? 'SIM_PIN' : 'SIM_OK'],
    authTime: Math.floor(Date.now() / 1000),
  });
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
      revocation: {
        enabled: true,
        // oidc-provider's own rule (a client revokes its own tokens), without its notice.
        async allowedPolicy(ctx, client, token) {
          return token.clientId === client.clientId;
        },
      },
      ciba: {
        enabled: true,
        deliveryModes: ['poll', 'ping'],
        async processLoginHint(ctx, loginHint) {
          const msisdn = cibaMsisdn(loginHint);
          return msisdn ? pcrOf(msisdn) : undefined;
        },
        async processLoginHintToken() {
          throw new errors.InvalidRequest('login_hint_token is not supported');
        },
        // oidc-provider's own rule, without its "should change" notice.
        async validateBindingMessage(ctx, bindingMessage) {
          if (bindingMessage !== undefined && !/^[a-zA-Z0-9-._+/!?#]{1,20}$/.test(bindingMessage)) {
            throw new errors.InvalidBindingMessage('binding_message must be 1-20 characters of [a-zA-Z0-9-._+/!?#]');
          }
        },
        async validateRequestContext() {},
        // No user codes (CAMARA ignores user_code).
        async verifyUserCode() {},
        async triggerAuthenticationDevice(ctx, request, account) {
          cibaHandset(ctx.oidc.provider, request, account);
        },
      },
    },
    // Ping notifications go to the SP's https://sp.example origin, which is wherever the test
    // said (POST /_admin/sp-origin); oidc-provider's guard against special-use addresses
    // (loopback) is lifted for that host only. Every other request goes out as oidc-provider
    // sends it.
    async fetch(url, options) {
      const target = String(url);
      if (target.startsWith(`${SP_ORIGIN}/`)) {
        if (!spOrigin) throw new Error('provider.mjs: POST /_admin/sp-origin first');
        const { dispatcher, ...rest } = options;
        return globalThis.fetch(spOrigin + target.slice(SP_ORIGIN.length), rest);
      }
      return globalThis.fetch(url, options);
    },
    pkce: { required: () => false },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      // requested_expiry honoured (positive integer, checked by oidc-provider), capped.
      BackchannelAuthenticationRequest: (ctx) => Math.min(
        Number(ctx?.oidc?.params?.requested_expiry ?? CIBA_DEFAULT_EXPIRY_S),
        CIBA_DEFAULT_EXPIRY_S,
      ),
      Grant: 600,
      IdToken: 600,
      Interaction: 300,
      RefreshToken: 3600,
      Session: 600,
    },
    issueRefreshToken: async (ctx, client, source) => client.grantTypeAllowed('refresh_token')
      && (!STOCK_REFRESH_CLIENTS.has(client.clientId) || source.scopes.has('offline_access')),
    rotateRefreshToken: true,
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
  // its value is its jti; IdToken#issue hashes at_hash with the id_token's algorithm. The
  // misbehaviour switches (REFRESH_EDITS) then edit a refreshed id_token.
  const { IdToken } = provider;
  const issue = IdToken.prototype.issue;
  IdToken.prototype.issue = async function issueWithAtHash(options) {
    const at = this.ctx?.oidc?.entities?.AccessToken;
    if (options?.use === 'idtoken' && at?.jti && this.client?.clientId !== 'sp-plain-oidc') {
      this.set('at_hash', at.jti);
    }
    const jwt = await issue.call(this, options);
    const edit = REFRESH_EDITS.get(this.client?.clientId);
    const refreshing = this.ctx?.oidc?.params?.grant_type === 'refresh_token';
    return options?.use === 'idtoken' && refreshing && edit ? resign(jwt, keys, edit) : jwt;
  };
  provider.on('server_error', (ctx, err) => console.error('provider.mjs server_error:', err));
  provider.use(cibaPacing);
  return provider;
}

/**
 * The compact JWS `jwt` with its claims edited by `edit`, signed again under the same header
 * with the private key of its `kid` (RS256, PS256 or ES256, as oidc-provider signs).
 */
function resign(jwt, keys, edit) {
  const [header, payload] = jwt.split('.');
  const { alg, kid } = JSON.parse(Buffer.from(header, 'base64url'));
  const claims = edit(JSON.parse(Buffer.from(payload, 'base64url')));
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const key = createPrivateKey({ key: keys.find((k) => k.kid === kid), format: 'jwk' });
  const options = {
    RS256: { key },
    PS256: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
    ES256: { key, dsaEncoding: 'ieee-p1363' },
  }[alg];
  return `${input}.${sign('sha256', Buffer.from(input), options).toString('base64url')}`;
}

// CIBA polling pace (see the header): per auth_req_id, the interval and the second of the
// request or of the last poll. Whole seconds, like every time oidc-provider keeps.
const pace = new Map();
const epoch = () => Math.floor(Date.now() / 1000);

async function cibaPacing(ctx, next) {
  await next();
  const { oidc } = ctx;
  if (!oidc || !ctx.body || typeof ctx.body !== 'object') return;
  if (oidc.route === 'backchannel_authentication' && ctx.status === 200 && ctx.body.auth_req_id) {
    let interval = 5; // CIBA Core 7.3's default when the answer names none
    if (oidc.client?.backchannelTokenDeliveryMode === 'poll') {
      interval = CIBA_INTERVAL_S;
      ctx.body = { ...ctx.body, interval };
    }
    pace.set(ctx.body.auth_req_id, { last: epoch(), interval });
  } else if (oidc.route === 'token' && oidc.params?.grant_type === CIBA_GRANT
    && ctx.body.error === 'authorization_pending') {
    const seen = pace.get(oidc.params.auth_req_id);
    if (!seen) return;
    const now = epoch();
    if (now - seen.last < seen.interval) {
      seen.interval += 5;
      counts.set('slow_down', (counts.get('slow_down') ?? 0) + 1);
      ctx.body = {
        error: 'slow_down',
        error_description: `poll at most every ${seen.interval} s`,
      };
    }
    seen.last = now;
  }
}

let spOrigin;
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
  if (pathname === '/_admin/sp-origin' && req.method === 'POST') {
    const origin = URL.parse(new URL(req.url, ISSUER).searchParams.get('origin') ?? '');
    if (!origin || origin.protocol !== 'http:' || origin.hostname !== '127.0.0.1') {
      return send(res, 400, 'text/plain', 'origin=http://127.0.0.1:PORT');
    }
    spOrigin = origin.origin;
    return send(res, 200, 'application/json', JSON.stringify({ origin: spOrigin }));
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
