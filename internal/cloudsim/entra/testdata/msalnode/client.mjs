// msal-node (pinned in package.json) driving cloudsim's Entra.
//
// Reads the tenant's names as JSON on stdin and prints one JSON line per
// case: the tokens msal-node returned, or the error Entra's body carried.
// The Go test (TestMSALNodeAgainstCloudsim) checks both; this script
// asserts nothing itself.
import { readFileSync } from "node:fs";
import { ConfidentialClientApplication, PublicClientApplication } from "@azure/msal-node";

const cfg = JSON.parse(readFileSync(0, "utf8"));
const exchange = ["api://AzureADTokenExchange/.default"];
const asUser = [`api://${cfg.blueprint_id}/access_as_user`];
const weatherRead = [`api://${cfg.weather_id}/Weather.Read`];
const weatherDefault = [`api://${cfg.weather_id}/.default`];

// knownAuthorities: the authority's host is trusted as is, so msal-node
// skips instance discovery at login.microsoftonline.com and reads the
// authority's own OpenID configuration.
const auth = (clientId) => ({ clientId, authority: cfg.authority, knownAuthorities: [new URL(cfg.authority).host] });
const confidential = (clientId, credential) => new ConfidentialClientApplication({ auth: { ...auth(clientId), ...credential } });
const blueprint = (secret = cfg.blueprint_secret) => confidential(cfg.blueprint_id, { clientSecret: secret });
const t1 = () => blueprint().acquireTokenByClientCredential({ scopes: exchange, fmiPath: cfg.agent_id });
const agent = () => confidential(cfg.agent_id, { clientAssertion: async () => (await t1()).accessToken });
const spa = () => new PublicClientApplication({ auth: auth(cfg.spa_id) });
const ropc = (scopes = asUser, password = cfg.user_password) =>
  spa().acquireTokenByUsernamePassword({ scopes, username: cfg.user_upn, password });
const obo = (oboAssertion) => agent().acquireTokenOnBehalfOf({ oboAssertion, scopes: weatherRead });

async function userFIC(who) {
  const app = agent();
  const t2 = await app.acquireTokenByClientCredential({ scopes: exchange });
  return app.acquireTokenByUserFederatedIdentityCredential({ scopes: weatherDefault, assertion: t2.accessToken, ...who });
}

// msal-node keeps refresh tokens in its cache; its serialized cache is the
// documented way to read one for acquireTokenByRefreshToken.
async function refresh() {
  const app = spa();
  await app.acquireTokenByUsernamePassword({ scopes: asUser, username: cfg.user_upn, password: cfg.user_password });
  const cached = JSON.parse(app.getTokenCache().serialize());
  const [rt] = Object.values(cached.RefreshToken ?? {});
  if (!rt) throw new Error("msal-node cached no refresh token");
  return spa().acquireTokenByRefreshToken({ refreshToken: rt.secret, scopes: asUser });
}

// The person's part of the device code flow: cloudsim's switch approves
// the code as the user.
const deviceCode = () =>
  spa().acquireTokenByDeviceCode({
    scopes: asUser,
    deviceCodeCallback: async ({ userCode }) => {
      const r = await fetch(cfg.approve_url, { method: "POST", body: new URLSearchParams({ user_code: userCode, user: cfg.user_upn }) });
      if (!r.ok) throw new Error(`approving ${userCode}: ${r.status}`);
    },
  });

const cases = {
  "T1 with a secret and fmi_path": t1,
  "TR with T1 as the client assertion": () => agent().acquireTokenByClientCredential({ scopes: weatherDefault }),
  "STS app with the managed identity token as the client assertion": () =>
    confidential(cfg.sts_app_id, { clientAssertion: cfg.mi_token }).acquireTokenByClientCredential({ scopes: [`${cfg.sts_app_uri}/.default`] }),
  "ROPC": () => ropc(),
  "refresh": refresh,
  "OBO": async () => obo((await ropc()).accessToken),
  "device code": deviceCode,
  "agent user by UPN": () => userFIC({ username: cfg.agent_user_upn }),
  "agent user by object ID": () => userFIC({ userObjectId: cfg.agent_user_oid }),
  "refused: wrong secret": () => blueprint("not-the-secret").acquireTokenByClientCredential({ scopes: exchange }),
  "refused: wrong password": () => ropc(asUser, "not-the-password"),
  "refused: Microsoft Graph scope without consent": () => ropc(["User.Read"]),
  "refused: OBO from a token for another audience": async () => obo((await t1()).accessToken),
  "refused: agent user the agent does not own": () => userFIC({ username: cfg.user_upn }),
  "refused: UPN as user_id": () => userFIC({ userObjectId: cfg.agent_user_upn }),
};

for (const [name, run] of Object.entries(cases)) {
  const line = { case: name, access_token: "", id_token: "", error: "", codes: [], description: "" };
  try {
    const r = await run();
    line.access_token = r?.accessToken ?? "";
    line.id_token = r?.idToken ?? "";
  } catch (e) {
    line.error = e.errorCode ?? "exception";
    line.codes = e.errorNo ? [Number(e.errorNo)] : [];
    line.description = e.errorMessage ?? String(e);
  }
  process.stdout.write(JSON.stringify(line) + "\n");
}
