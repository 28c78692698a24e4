"""Drives cloudsim's AgentCore Identity with boto3, unchanged: the Go test
(agentcoreclients_test.go) sends one call per line on stdin, as JSON
{"client": "bedrock-agentcore-control" or "bedrock-agentcore",
"method": "<boto3 method>", "params": {...}}, and reads one JSON object
per line back: {"ok": true, "result": ...} or the refusal's code, message
and status. The endpoints come from AWS_ENDPOINT_URL_BEDROCK_AGENTCORE and
AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL, the CA from AWS_CA_BUNDLE and
the keys from the profile the test names: boto3's own configuration. An
access token in a result is replaced by its length: no token is printed."""

import datetime
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"})
clients = {}


def plain(v):
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items() if k != "ResponseMetadata"}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


for line in sys.stdin:
    call = json.loads(line)
    name = call["client"]
    if name not in clients:
        clients[name] = boto3.client(name, config=CONFIG)
    c = clients[name]
    try:
        result = plain(getattr(c, call["method"])(**call.get("params", {})))
        if "accessToken" in result:
            result["accessToken"] = "<%d characters>" % len(result["accessToken"])
        out = {"ok": True, "result": result, "endpoint": c.meta.endpoint_url}
    except ClientError as e:
        r = e.response
        out = {"ok": False, "code": r["Error"]["Code"], "message": r["Error"].get("Message", ""),
               "status": r["ResponseMetadata"]["HTTPStatusCode"], "class": type(e).__name__, "endpoint": c.meta.endpoint_url}
    print(json.dumps(out), flush=True)
