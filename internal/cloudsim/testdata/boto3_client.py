"""Drives cloudsim's STS and Bedrock with boto3, a client the project did
not write. The Go test (awsclients_test.go) sends one scenario name per
line on stdin and reads one JSON object per line back, so it can move
cloudsim's clock between scenarios. Credentials come from the environment
the test sets: web identity (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE),
AWS_ENDPOINT_URL_* and AWS_CA_BUNDLE pointing at cloudsim. No token, key or
secret is ever printed."""

import base64
import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"})
MODEL = os.environ["BEDROCK_MODEL_ID"]
ROLE = os.environ["AWS_ROLE_ARN"]
TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Current weather for a city",
                                 "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}]}
QUESTION = [{"role": "user", "content": [{"text": "What's the weather in Oslo?"}]}]
state = {}


def client(name, creds=None):
    kw = {}
    if creds:
        kw = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
              "aws_session_token": creds["SessionToken"]}
    return boto3.client(name, config=CONFIG, **kw)


def token():
    with open(os.environ["AWS_WEB_IDENTITY_TOKEN_FILE"]) as f:
        return f.read().strip()


def refusal(e):
    r = e.response
    return {"ok": False, "code": r["Error"]["Code"], "message": r["Error"].get("Message", ""),
            "status": r["ResponseMetadata"]["HTTPStatusCode"], "class": type(e).__name__,
            "request_id": r["ResponseMetadata"].get("RequestId", "")}


def assume(duration=3600, policy=None):
    kw = {"RoleArn": ROLE, "RoleSessionName": "boto3", "WebIdentityToken": token(), "DurationSeconds": duration}
    if policy is not None:
        kw["Policy"] = policy
    return client("sts").assume_role_with_web_identity(**kw)


def scenario_assume():
    out = assume(duration=900)
    state["short"] = out["Credentials"]
    return {"ok": True, "provider": out["Provider"], "audience": out["Audience"],
            "arn": out["AssumedRoleUser"]["Arn"], "packed_policy_size": "PackedPolicySize" in out}


def scenario_caller():
    out = client("sts").get_caller_identity()
    return {"ok": True, "arn": out["Arn"], "user_id": out["UserId"], "account": out["Account"]}


def converse(messages, model=MODEL, creds=None):
    return client("bedrock-runtime", creds).converse(modelId=model, messages=messages, toolConfig=TOOLS)


def scenario_converse():
    first = converse(QUESTION)
    msg = first["output"]["message"]
    use = next(b["toolUse"] for b in msg["content"] if "toolUse" in b)
    result = {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "status": "success", "content": [
        {"json": {"city": "Oslo", "temperature": 41, "condition": "Cloudy", "humidity": 80, "wind_speed": 9}}]}}]}
    second = converse(QUESTION + [msg, result])
    usage = second["usage"]
    return {"ok": True, "stop_reasons": [first["stopReason"], second["stopReason"]], "tool": use["name"], "input": use["input"],
            "answer": second["output"]["message"]["content"][0]["text"],
            "total_is_sum": usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"],
            "request_id": second["ResponseMetadata"].get("RequestId", "")}


def scenario_converse_stream():
    out = client("bedrock-runtime").converse_stream(modelId=MODEL, messages=QUESTION, toolConfig=TOOLS)
    events, text, tool_input, tool, usage = [], "", "", None, {}
    for event in out["stream"]:
        (kind, body), = event.items()
        events.append(kind)
        if kind == "contentBlockStart":
            tool = body["start"]["toolUse"]["name"]
        elif kind == "contentBlockDelta":
            delta = body["delta"]
            text += delta.get("text", "")
            tool_input += delta.get("toolUse", {}).get("input", "")
        elif kind == "metadata":
            usage = body["usage"]
    return {"ok": True, "events": events, "text": text, "tool": tool, "input": json.loads(tool_input),
            "total_is_sum": usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"],
            "request_id": out["ResponseMetadata"].get("RequestId", "")}


def scenario_profile_arn():
    account = client("sts").get_caller_identity()["Account"]
    region = os.environ["AWS_DEFAULT_REGION"]
    out = converse(QUESTION, model=f"arn:aws:bedrock:{region}:{account}:inference-profile/{MODEL}")
    return {"ok": True, "stop_reason": out["stopReason"]}


def scenario_large_body():
    big = [{"role": "user", "content": [{"text": "Hello. " + "x" * (2 << 20)}]}]
    return {"ok": True, "stop_reason": converse(big)["stopReason"]}


def scenario_web_identity_token():
    out = client("sts").get_web_identity_token(Audience=["api://AzureADTokenExchange"], SigningAlgorithm="RS256")
    payload = out["WebIdentityToken"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {"ok": True, "sub": claims["sub"], "aud": claims["aud"]}


# IAM, as the account's administrator (the test gives this process the
# cloudsim-admin profile instead of web identity).
SERVICE_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def sized(base, n):
    """base, a compact policy document with an empty Sid, padded to n
    characters without white space (what IAM's quotas count)."""
    return base.replace('"Sid":""', '"Sid":"' + "s" * (n - len(base)) + '"')


def trust_of(n):
    return sized('{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow",'
                 '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}', n)


def policy_of(n):
    return sized('{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow",'
                 '"Action":"s3:GetObject","Resource":"*"}]}', n)


def tags(n, prefix="k"):
    return [{"Key": f"{prefix}{i}", "Value": "v"} for i in range(1, n + 1)]


def scenario_iam_path():
    created = client("iam").create_role(RoleName="boto3-pathed", Path="/agents/eu/", AssumeRolePolicyDocument=SERVICE_TRUST)["Role"]
    got = client("iam").get_role(RoleName="BOTO3-PATHED")["Role"]
    return {"ok": True, "path": created["Path"], "arn": created["Arn"], "get_path": got["Path"], "get_arn": got["Arn"]}


def scenario_iam_tags():
    iam = client("iam")
    iam.create_role(RoleName="boto3-tagged", AssumeRolePolicyDocument=SERVICE_TRUST,
                    Tags=[{"Key": "team", "Value": "agents"}, {"Key": "Cost Center", "Value": ""}])
    created = iam.get_role(RoleName="boto3-tagged")["Role"].get("Tags", [])
    iam.tag_role(RoleName="boto3-tagged", Tags=[{"Key": "TEAM", "Value": "platform"}, {"Key": "env", "Value": "dev"}])
    iam.untag_role(RoleName="boto3-tagged", TagKeys=["cost center", "absent"])
    listed = iam.list_role_tags(RoleName="boto3-tagged")
    return {"ok": True, "created": created, "listed": listed["Tags"], "truncated": listed["IsTruncated"]}


def scenario_iam_quota_white_space():
    # 2,048 characters and 2,000 of white space fit the trust policy quota.
    client("iam").create_role(RoleName="boto3-spacious", AssumeRolePolicyDocument=trust_of(2048) + " \n\t\r" * 500)
    return {"ok": True}


def big_inline():
    iam = client("iam")
    iam.put_role_policy(RoleName="boto3-tagged", PolicyName="one", PolicyDocument=policy_of(6000))
    iam.put_role_policy(RoleName="boto3-tagged", PolicyName="two", PolicyDocument=policy_of(4241))


def trusting_role(name):
    account = client("sts").get_caller_identity()["Account"]
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"AWS": f"arn:aws:iam::{account}:role/{name}"}}]})


def create_role(name, **kw):
    kw.setdefault("AssumeRolePolicyDocument", SERVICE_TRUST)
    return lambda: client("iam").create_role(RoleName=name, **kw)


def bad_converse(messages, model=MODEL):
    return lambda: converse(messages, model=model)


DENY_BEDROCK = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:*", "Resource": "*"},
    {"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}]})

REFUSALS = {
    "assistant_first": bad_converse([{"role": "assistant", "content": [{"text": "Hi"}]}]),
    "empty_content": bad_converse([{"role": "user", "content": []}]),
    "blank_text": bad_converse([{"role": "user", "content": [{"text": "  "}]}]),
    "not_alternating": bad_converse(QUESTION + QUESTION),
    "made_up_model": bad_converse(QUESTION, model="us.anthropic.claude-does-not-exist-v9:0"),
    "foundation_model": bad_converse(QUESTION, model=MODEL.split(".", 1)[1]),
    # Claude 3 Haiku reached end of life in us-east-1 on 2026-09-10.
    "retired_model": bad_converse(QUESTION, model="us.anthropic.claude-3-haiku-20240307-v1:0"),
    "malformed_policy": lambda: assume(policy="{not json"),
    # The role's policy allows api://AzureADTokenExchange for up to 300 s
    # (sts:IdentityTokenAudience, sts:DurationSeconds): each is refused.
    "audience_outside_policy": lambda: client("sts").get_web_identity_token(
        Audience=["https://example.test"], SigningAlgorithm="RS256"),
    "duration_outside_policy": lambda: client("sts").get_web_identity_token(
        Audience=["api://AzureADTokenExchange"], SigningAlgorithm="RS256", DurationSeconds=600),
    "access_denied": lambda: converse(QUESTION, creds=assume(policy=DENY_BEDROCK)["Credentials"]),
    "bedrock_call": lambda: converse(QUESTION),
    "sts_call": lambda: client("sts").get_caller_identity(),
    "short_sts": lambda: client("sts", state["short"]).get_caller_identity(),
    "short_bedrock": lambda: converse(QUESTION, creds=state["short"]),
    "reassume": lambda: assume(),
    "iam_bad_path": create_role("boto3-bad-path", Path="agents/"),
    "iam_long_path": create_role("boto3-bad-path", Path="/" + "a" * 511 + "/"),
    "iam_51_tags": create_role("boto3-many-tags", Tags=tags(51)),
    "iam_duplicate_tags": create_role("boto3-many-tags", Tags=[{"Key": "Env", "Value": "a"}, {"Key": "env", "Value": "b"}]),
    # boto3-tagged has 2 tags: 49 more would make 51.
    "iam_tags_past_50": lambda: client("iam").tag_role(RoleName="boto3-tagged", Tags=tags(49)),
    "iam_big_trust": create_role("boto3-big", AssumeRolePolicyDocument=trust_of(2049)),
    "iam_big_trust_update": lambda: client("iam").update_assume_role_policy(RoleName="boto3-tagged", PolicyDocument=trust_of(2049)),
    "iam_big_inline": big_inline,
    "iam_unknown_principal": lambda: create_role("boto3-trusting", AssumeRolePolicyDocument=trusting_role("nobody"))(),
    "iam_long_name": create_role("r" * 65),
}


def run(name):
    fn = globals().get("scenario_" + name)
    try:
        if fn:
            return fn()
        REFUSALS[name]()
        return {"ok": True}
    except ClientError as e:
        return refusal(e)


for line in sys.stdin:
    print(json.dumps(run(line.strip())), flush=True)
