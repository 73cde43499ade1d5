// Generates the committed test keys (run once; the files under keys/ are committed and
// deliberately public: they sign nothing outside this test suite).
//
//   node generate-keys.mjs
//
// keys/op-keyset-1.json, keys/op-keyset-2.json: the provider's signing keys (private JWKs),
//   one RS256, one PS256 and one ES256 key per set; the provider starts on set 1 and
//   /_admin/rotate switches to the next set (new kids).
// keys/sp-private-key-jwt.pem: the SP's RSA 2048 key for private_key_jwt (PKCS#8 PEM);
//   the provider registers its public half for the private_key_jwt clients.
// keys/sp-other-key.pem: another RSA 2048 key the provider does not know (negative test).
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';

function jwk(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}

function keyset(n) {
  return {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, 'RS256', `op-${n}-rs256`),
      jwk('rsa', { modulusLength: 2048 }, 'PS256', `op-${n}-ps256`),
      jwk('ec', { namedCurve: 'P-256' }, 'ES256', `op-${n}-es256`),
    ],
  };
}

function pem() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ format: 'pem', type: 'pkcs8' });
}

for (const n of [1, 2]) {
  writeFileSync(`keys/op-keyset-${n}.json`, `${JSON.stringify(keyset(n), null, 2)}\n`);
}
writeFileSync('keys/sp-private-key-jwt.pem', pem());
writeFileSync('keys/sp-other-key.pem', pem());
