// A real OpenID Connect provider (panva/oidc-provider) for qplane's SSO tests.
//
// Usage: node idp.mjs CONFIG.json
// CONFIG: { "clients": [oidc-provider client metadata...],
//           "users": [{ "login", "password", "sub", "email", "email_verified",
//                       "groups": [...], "amr": [...], "acr" }] }
// Listens on 127.0.0.1 on a free port and prints one line, "READY <issuer>".
// Login and consent are plain HTML forms at /interaction/<uid>, completed by
// the tests' HTTP client as a browser would. Two test-only control routes:
//   POST /__test/rotate-keys   sign with a fresh RSA key (new kid) from now on
//   POST /__test/users         replace the users (JSON body, same shape)
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let users = config.users;
let handler = null;

function freshJwks() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }] };
}

function userBySub(sub) {
  return users.find((u) => u.sub === sub);
}

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: freshJwks(),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    acrValues: ['urn:test:acr:pwd', 'urn:test:acr:mfa'],
    claims: {
      sid: null,
      // acr, amr and auth_time in every ID token, as IdPs set up for qplane are configured
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name', 'groups'],
    },
    conformIdTokenClaims: false, // put the scope's claims in the ID token (as IdPs are configured to)
    async findAccount(ctx, sub) {
      const user = userBySub(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: user.email,
            email_verified: user.email_verified ?? true,
            name: user.login,
            groups: user.groups ?? [],
          };
        },
      };
    },
  });
  return provider;
}

function page(title, action, fields) {
  const inputs = fields.map((f) => `<input name="${f}" />`).join('');
  return `<!doctype html><title>${title}</title><form method="post" action="${action}">${inputs}<button>${title}</button></form>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(provider, req, res, path) {
  const [, , uid, step] = path.split('/');
  if (req.method === 'GET') {
    const { prompt } = await provider.interactionDetails(req, res);
    const html =
      prompt.name === 'login'
        ? page('login', `/interaction/${uid}/login`, ['login', 'password'])
        : page('consent', `/interaction/${uid}/confirm`, []);
    res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    return;
  }
  if (step === 'login') {
    const form = await readForm(req);
    const user = users.find((u) => u.login === form.login && u.password === form.password);
    if (!user) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('bad credentials');
      return;
    }
    const login = { accountId: user.sub, amr: user.amr ?? ['pwd'], acr: user.acr ?? 'urn:test:acr:pwd' };
    await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    return;
  }
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  try {
    if (req.method === 'POST' && path === '/__test/rotate-keys') {
      handler = buildProvider(handler.issuer);
      res.writeHead(204).end();
    } else if (req.method === 'POST' && path === '/__test/users') {
      users = (await readJson(req)).users;
      res.writeHead(204).end();
    } else if (path.startsWith('/interaction/')) {
      await interaction(handler, req, res, path);
    } else {
      handler.callback()(req, res);
    }
  } catch (err) {
    process.stderr.write(`idp error: ${err.stack}\n`);
    if (!res.headersSent) res.writeHead(500).end(String(err));
  }
});

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  handler = buildProvider(issuer);
  process.stdout.write(`READY ${issuer}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
