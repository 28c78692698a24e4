"""Signs requests with botocore's SigV4 signer, which the project did not
write, for the verifier's table test. Reads a JSON list of requests on
stdin and prints the same list with each request's headers as botocore
signed them. A request with "sign_all": true also signs User-Agent,
X-Amzn-Trace-Id and Expect, which botocore leaves out but other SDKs sign,
by emptying botocore's own list of headers it never signs."""

import json
import sys

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

NEVER_SIGNED = list(botocore.auth.SIGNED_HEADERS_BLACKLIST)

out = []
for r in json.load(sys.stdin):
    botocore.auth.SIGNED_HEADERS_BLACKLIST[:] = [] if r.get("sign_all") else NEVER_SIGNED
    req = AWSRequest(method=r["method"], url=r["url"], data=r["body"].encode(), headers=dict(r["headers"]))
    SigV4Auth(Credentials(r["key"], r["secret"], r.get("token")), r["service"], r["region"]).add_auth(req)
    r["headers"] = [[k, v] for k, v in req.headers.items()]
    out.append(r)
json.dump(out, sys.stdout)
