"""MSAL Python (Debian's python3-msal) driving cloudsim's Entra.

Reads the tenant's names as JSON on stdin and prints one JSON line per
case: the tokens MSAL returned, or the error Entra's body carried. The Go
test (TestMSALPythonAgainstCloudsim) checks both; this script asserts
nothing itself.
"""
import json
import sys
from urllib.parse import urlsplit, urlunsplit

import msal
import requests

cfg = json.load(sys.stdin)
AUTHORITY = urlsplit(cfg["authority"])


class PortKeepingSession(requests.Session):
    """MSAL Python 1.21 builds the user realm URL of a password grant from
    the authority's host name alone (authority.canonicalize drops the port),
    so against an authority on another port than 443 it calls port 443.
    Against a real tenant the two are the same URL; here the port is put back.
    """

    def request(self, method, url, *args, **kwargs):
        u = urlsplit(url)
        if u.netloc == AUTHORITY.hostname:
            url = urlunsplit(u._replace(netloc=AUTHORITY.netloc))
        return super().request(method, url, *args, **kwargs)


HTTP = PortKeepingSession()
EXCHANGE = ["api://AzureADTokenExchange/.default"]
AS_USER = ["api://%s/access_as_user" % cfg["blueprint_id"]]
WEATHER_READ = ["api://%s/Weather.Read" % cfg["weather_id"]]
WEATHER_DEFAULT = ["api://%s/.default" % cfg["weather_id"]]


def confidential(client_id, credential):
    # instance_discovery=False: no call to login.microsoftonline.com; the
    # authority's own OpenID configuration is still fetched.
    return msal.ConfidentialClientApplication(
        client_id, client_credential=credential, authority=cfg["authority"], instance_discovery=False, http_client=HTTP)


def public(client_id):
    return msal.PublicClientApplication(client_id, authority=cfg["authority"], instance_discovery=False, http_client=HTTP)


def blueprint(secret=None):
    return confidential(cfg["blueprint_id"], secret or cfg["blueprint_secret"])


def t1():
    # MSAL Python 1.21 predates its fmi_path option; data= adds it to the body.
    return blueprint().acquire_token_for_client(EXCHANGE, data={"fmi_path": cfg["agent_id"]})


def agent():
    return confidential(cfg["agent_id"], {"client_assertion": lambda: t1()["access_token"]})


def user_fic(who):
    # 1.21 has no method for the user_fic grant; its OAuth client sends it
    # with the agent's client assertion like any other grant.
    app = agent()
    t2 = app.acquire_token_for_client(EXCHANGE)
    if "access_token" not in t2:
        return t2
    data = dict(who, user_federated_identity_credential=t2["access_token"], scope=" ".join(WEATHER_DEFAULT))
    return app.client._obtain_token("user_fic", data=data)


def ropc(scopes=AS_USER, password=None):
    return public(cfg["spa_id"]).acquire_token_by_username_password(
        cfg["user_upn"], password or cfg["user_password"], scopes=scopes)


def refresh():
    first = ropc()
    if "refresh_token" not in first:
        return first
    return public(cfg["spa_id"]).acquire_token_by_refresh_token(first["refresh_token"], scopes=AS_USER)


def device_code():
    app = public(cfg["spa_id"])
    flow = app.initiate_device_flow(scopes=AS_USER)
    if "user_code" not in flow:
        return flow
    # The person's part: cloudsim's switch approves the code as the user.
    HTTP.post(cfg["approve_url"], data={"user_code": flow["user_code"], "user": cfg["user_upn"]}).raise_for_status()
    return app.acquire_token_by_device_flow(flow)


def obo(assertion):
    return agent().acquire_token_on_behalf_of(assertion, WEATHER_READ)


CASES = {
    "T1 with a secret and fmi_path": t1,
    "TR with T1 as the client assertion": lambda: agent().acquire_token_for_client(WEATHER_DEFAULT),
    "STS app with the managed identity token as the client assertion": lambda: confidential(
        cfg["sts_app_id"], {"client_assertion": cfg["mi_token"]}).acquire_token_for_client([cfg["sts_app_uri"] + "/.default"]),
    "ROPC": ropc,
    "refresh": refresh,
    "OBO": lambda: obo(ropc()["access_token"]),
    "device code": device_code,
    "agent user by UPN": lambda: user_fic({"username": cfg["agent_user_upn"]}),
    "agent user by object ID": lambda: user_fic({"user_id": cfg["agent_user_oid"]}),
    "refused: wrong secret": lambda: blueprint("not-the-secret").acquire_token_for_client(EXCHANGE),
    "refused: wrong password": lambda: ropc(password="not-the-password"),
    "refused: Microsoft Graph scope without consent": lambda: ropc(scopes=["User.Read"]),
    "refused: OBO from a token for another audience": lambda: obo(t1()["access_token"]),
    "refused: agent user the agent does not own": lambda: user_fic({"username": cfg["user_upn"]}),
    "refused: UPN as user_id": lambda: user_fic({"user_id": cfg["agent_user_upn"]}),
}

for name, run in CASES.items():
    try:
        r = run()
    except Exception as e:  # reported to the Go test, which fails on it
        r = {"error": "exception", "error_description": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps({
        "case": name,
        "access_token": r.get("access_token", ""),
        "id_token": r.get("id_token", ""),
        "error": r.get("error", ""),
        "codes": r.get("error_codes", []),
        "description": r.get("error_description", ""),
    }), flush=True)
