"""Static checks of the deployment files: terraform/, aws/ and scripts/setup-aws.

Nothing here talks to AWS. The Terraform is formatted-checked with
`terraform fmt`, parsed with npm's @cdktf/hcl2json (tests/node_modules) and
its security properties asserted on the parsed tree: least-privilege IAM,
IMDSv2, a private encrypted bucket, instances reachable only from the load
balancer. The hand-setup files in aws/ must say the same as the Terraform,
and scripts/setup-aws must apply exactly them.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

import harness

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"
AWS_DIR = ROOT / "aws"
SETUP_AWS = ROOT / "scripts" / "setup-aws"
TESTS_DIR = ROOT / "tests"

# Terraform reads ~/.terraformrc; point it at nothing so the user's settings
# (or their absence, which makes it warn) do not matter.
TF_ENV = dict(os.environ, TF_CLI_CONFIG_FILE="/dev/null", CHECKPOINT_DISABLE="1",
              TF_IN_AUTOMATION="1")

# How the Terraform spells the bucket and prefix, and how aws/*.json does.
TF_TO_PLACEHOLDER = {
    "${local.bucket_arn}": "arn:aws:s3:::${BUCKET}",
    "${var.upload_prefix}": "${PREFIX}",
}

HCL2JSON_JS = r"""
const { parse } = require("@cdktf/hcl2json");
const fs = require("fs");
const path = require("path");
(async () => {
  const dir = process.argv[1];
  const out = {};
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".tf")).sort()) {
    out[f] = await parse(f, fs.readFileSync(path.join(dir, f), "utf8"));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


def terraform_bin():
    return shutil.which("terraform")


# ---------------------------------------------------------------------------
# parsing


@pytest.fixture(scope="module")
def tf_files():
    """{file name: hcl2json tree} for every terraform/*.tf."""
    if not (TESTS_DIR / "node_modules" / "@cdktf" / "hcl2json").is_dir():
        pytest.fail("tests/node_modules/@cdktf/hcl2json is missing: run scripts/bootstrap "
                    "(npm ci in tests/)")
    out = subprocess.run(["node", "-e", HCL2JSON_JS, str(TF_DIR)], cwd=TESTS_DIR,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"hcl2json failed: {out.stderr}"
    files = json.loads(out.stdout)
    assert set(files) >= {"variables.tf", "versions.tf", "s3.tf", "iam.tf", "ec2.tf",
                          "outputs.tf"}, sorted(files)
    return files


@pytest.fixture(scope="module")
def tf(tf_files):
    """All files merged: {"resource": {type: {name: body}}, "data": ..., ...}."""
    merged = {}
    for tree in tf_files.values():
        for kind, by_type in tree.items():
            if kind in ("resource", "data"):
                for rtype, by_name in by_type.items():
                    for name, bodies in by_name.items():
                        assert len(bodies) == 1
                        slot = merged.setdefault(kind, {}).setdefault(rtype, {})
                        assert name not in slot, f"duplicate {kind} {rtype}.{name}"
                        slot[name] = bodies[0]
            elif kind in ("variable", "output"):
                for name, bodies in by_type.items():
                    merged.setdefault(kind, {})[name] = bodies[0]
            elif kind == "locals":
                for block in by_type:
                    merged.setdefault("locals", {}).update(block)
            else:
                merged.setdefault(kind, []).extend(by_type)
    return merged


def resources(tf, rtype):
    return tf.get("resource", {}).get(rtype, {})


def one(blocks):
    """A nested block that must appear exactly once."""
    assert isinstance(blocks, list) and len(blocks) == 1, blocks
    return blocks[0]


def resolve(tf, value):
    """Replace a whole-value "${local.NAME}" by the local's own value."""
    while isinstance(value, str):
        m = re.fullmatch(r"\$\{local\.([A-Za-z0-9_]+)\}", value)
        if not m:
            break
        value = tf["locals"][m.group(1)]
    return value


def to_placeholders(s):
    for tf_form, placeholder in TF_TO_PLACEHOLDER.items():
        s = s.replace(tf_form, placeholder)
    return s


def all_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from all_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from all_strings(v)


def as_list(v):
    return v if isinstance(v, list) else [v]


def tf_statements(doc):
    return doc.get("statement", [])


def normalize_tf_statement(st):
    conds = frozenset(
        (c["test"], c["variable"], frozenset(to_placeholders(v) for v in c["values"]))
        for c in st.get("condition", []))
    return (st.get("sid"), st.get("effect", "Allow"), frozenset(st["actions"]),
            frozenset(to_placeholders(r) for r in st["resources"]), conds)


def normalize_json_statement(st):
    conds = frozenset(
        (op, key, frozenset(as_list(vals)))
        for op, by_key in st.get("Condition", {}).items()
        for key, vals in by_key.items())
    return (st.get("Sid"), st["Effect"], frozenset(as_list(st["Action"])),
            frozenset(as_list(st["Resource"])), conds)


# ---------------------------------------------------------------------------
# terraform fmt


def test_terraform_fmt():
    tf_bin = terraform_bin()
    if not tf_bin:
        harness.require(False, "terraform is not installed (it is not packaged by Debian); "
                    "the HCL is still parsed and checked by the other tests")
    out = subprocess.run([tf_bin, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
                         capture_output=True, text=True, env=TF_ENV, timeout=120)
    assert out.returncode == 0, f"terraform fmt would change:\n{out.stdout}{out.stderr}"


def test_provider_pinned(tf_files):
    tfblock = one(tf_files["versions.tf"]["terraform"])
    aws = one(tfblock["required_providers"])["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert aws["version"].startswith("~> 5")


# ---------------------------------------------------------------------------
# IAM


def test_no_s3_wildcard_anywhere(tf):
    for s in all_strings(tf):
        assert "s3:*" not in s, f"s3:* found: {s!r}"
    policy = (AWS_DIR / "iam-policy.json").read_text()
    assert "s3:*" not in policy


def test_no_s3_action_on_star_resource(tf):
    docs = tf.get("data", {}).get("aws_iam_policy_document", {})
    assert docs, "IAM policies are expected as aws_iam_policy_document data sources"
    for name, doc in docs.items():
        for st in tf_statements(doc):
            actions = st.get("actions", [])
            assert "*" not in actions, f"{name}: action *"
            assert not st.get("not_actions") and not st.get("not_resources"), name
            if any(a.startswith("s3:") for a in actions):
                res = st.get("resources", [])
                assert res, f"{name}: S3 statement without resources"
                for r in res:
                    assert r != "*" and not r.startswith("arn:aws:s3:::*"), (name, r)
    # And nothing writes policies as raw JSON strings that this check would miss.
    for rtype in ("aws_iam_role_policy", "aws_iam_policy"):
        for name, body in resources(tf, rtype).items():
            assert re.fullmatch(r"\$\{data\.aws_iam_policy_document\.[a-z_]+(\[0\])?\.json\}",
                                body["policy"]), (rtype, name, body["policy"])


def test_presignd_policy_matches_aws_json(tf):
    doc = tf["data"]["aws_iam_policy_document"]["presignd"]
    tf_set = {normalize_tf_statement(st) for st in tf_statements(doc)}
    hand = json.loads((AWS_DIR / "iam-policy.json").read_text())
    assert hand["Version"] == "2012-10-17"
    json_set = {normalize_json_statement(st) for st in hand["Statement"]}
    assert tf_set == json_set, f"\nterraform: {sorted(map(str, tf_set))}\naws/: {sorted(map(str, json_set))}"


def test_presignd_policy_is_least_privilege(tf):
    doc = tf["data"]["aws_iam_policy_document"]["presignd"]
    allowed = {}
    for st in tf_statements(doc):
        assert st.get("effect", "Allow") == "Allow"
        for a in st["actions"]:
            allowed.setdefault(a, []).append(st)
    assert set(allowed) == {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket"}
    assert tf["locals"]["bucket_arn"] == \
        "arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}"
    for a in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
        (st,) = allowed[a]
        assert [to_placeholders(r) for r in st["resources"]] == ["arn:aws:s3:::${BUCKET}/${PREFIX}*"]
        assert "condition" not in st
    # ListBucket: on the bucket only; each statement is conditioned on
    # s3:prefix: either under the prefix, or absent (HeadBucket).
    conds = set()
    for st in allowed["s3:ListBucket"]:
        assert st["actions"] == ["s3:ListBucket"]
        assert [to_placeholders(r) for r in st["resources"]] == ["arn:aws:s3:::${BUCKET}"]
        (c,) = st["condition"]
        assert c["variable"] == "s3:prefix"
        conds.add((c["test"], tuple(to_placeholders(v) for v in c["values"])))
    assert conds == {("StringLike", ("${PREFIX}*",)), ("Null", ("true",))}


def test_role_trust_and_instance_profile(tf):
    trust = tf["data"]["aws_iam_policy_document"]["assume_ec2"]
    (st,) = tf_statements(trust)
    assert st["actions"] == ["sts:AssumeRole"]
    principal = one(st["principals"])
    assert principal["type"] == "Service" and principal["identifiers"] == ["ec2.amazonaws.com"]
    role = resources(tf, "aws_iam_role")["presignd"]
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.assume_ec2.json}"
    hand = json.loads((AWS_DIR / "trust-policy.json").read_text())
    (hst,) = hand["Statement"]
    assert hst["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert hst["Action"] == "sts:AssumeRole" and hst["Effect"] == "Allow"
    profile = resources(tf, "aws_iam_instance_profile")["presignd"]
    assert profile["role"] == "${aws_iam_role.presignd.name}"


def test_package_policy_reads_one_object(tf):
    doc = tf["data"]["aws_iam_policy_document"]["package"]
    (st,) = tf_statements(doc)
    assert st["actions"] == ["s3:GetObject"]
    assert st["resources"] == ["${local.package_arn}"]
    arn = tf["locals"]["package_arn"]
    assert "trimprefix(var.presignd_package_url" in arn and ":s3:::" in arn


def test_ssm_policy_reads_one_parameter_only_when_set(tf):
    """API keys from SSM Parameter Store: the role may GetParameter on that
    one parameter's ARN, and gets nothing when api_keys_ssm_parameter is
    empty (terraform test plans both)."""
    assert tf["locals"]["api_keys_from_ssm"] == '${var.api_keys_ssm_parameter != ""}'
    doc = tf["data"]["aws_iam_policy_document"]["ssm_api_keys"]
    assert doc["count"] == "${local.api_keys_from_ssm ? 1 : 0}"
    (st,) = tf_statements(doc)
    assert st["actions"] == ["ssm:GetParameter"]
    assert st["resources"] == ["${local.api_keys_parameter_arn}"]
    assert st.get("effect", "Allow") == "Allow" and "condition" not in st
    arn = tf["locals"]["api_keys_parameter_arn"]
    assert "*" not in arn
    for part in ('"ssm"', "var.region", "data.aws_caller_identity.current[0].account_id",
                 'parameter/${trimprefix(var.api_keys_ssm_parameter, "/")}'):
        assert part in arn, (part, arn)
    assert tf["data"]["aws_caller_identity"]["current"]["count"] == \
        "${local.api_keys_from_ssm ? 1 : 0}"
    policy = resources(tf, "aws_iam_role_policy")["ssm_api_keys"]
    assert policy["count"] == "${local.api_keys_from_ssm ? 1 : 0}"
    assert policy["role"] == "${aws_iam_role.presignd.id}"
    # No instance boots before it may read the parameter.
    lt = resources(tf, "aws_launch_template")["presignd"]
    assert "${aws_iam_role_policy.ssm_api_keys}" in lt["depends_on"]


# ---------------------------------------------------------------------------
# S3


def test_bucket_public_access_blocked(tf):
    pab = resources(tf, "aws_s3_bucket_public_access_block")["files"]
    for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
              "restrict_public_buckets"):
        assert pab[k] is True, k
    hand = json.loads((AWS_DIR / "public-access-block.json").read_text())
    assert hand == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    own = resources(tf, "aws_s3_bucket_ownership_controls")["files"]
    assert one(own["rule"])["object_ownership"] == "BucketOwnerEnforced"


def test_bucket_encrypted(tf):
    enc = resources(tf, "aws_s3_bucket_server_side_encryption_configuration")["files"]
    by_default = one(one(enc["rule"])["apply_server_side_encryption_by_default"])
    algo = by_default["sse_algorithm"]
    assert "AES256" in algo and "aws:kms" in algo, algo
    hand = json.loads((AWS_DIR / "bucket-encryption.json").read_text())
    assert hand["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_bucket_versioning_optional(tf):
    ver = resources(tf, "aws_s3_bucket_versioning")["files"]
    assert ver["count"] == "${var.bucket_versioning ? 1 : 0}"
    assert one(ver["versioning_configuration"])["status"] == "Enabled"


def test_bucket_cors_matches_aws_json(tf):
    cors = resources(tf, "aws_s3_bucket_cors_configuration")["files"]
    rule = one(cors["cors_rule"])
    assert rule["expose_headers"] == ["ETag", "Location"]
    assert set(rule["allowed_methods"]) == {"PUT", "POST", "GET", "HEAD", "DELETE"}
    # Every header an upload URL can sign (the x-amz-* ones by the wildcard).
    for h in ("Content-Type", "Content-MD5", "If-None-Match", "x-amz-*"):
        assert h in rule["allowed_headers"], h
    assert rule["allowed_origins"] == "${var.cors_allowed_origins}"
    hand = one(json.loads((AWS_DIR / "bucket-cors.json").read_text())["CORSRules"])
    assert hand["AllowedMethods"] == rule["allowed_methods"]
    assert hand["AllowedHeaders"] == rule["allowed_headers"]
    assert hand["ExposeHeaders"] == rule["expose_headers"]
    assert hand["AllowedOrigins"] == ["${ORIGIN}"]
    default_max_age = tf["variable"]["cors_max_age_seconds"]["default"]
    assert rule["max_age_seconds"] == "${var.cors_max_age_seconds}"
    assert hand["MaxAgeSeconds"] == default_max_age


# ---------------------------------------------------------------------------
# EC2


def test_launch_template_requires_imdsv2(tf):
    lt = resources(tf, "aws_launch_template")["presignd"]
    md = one(lt["metadata_options"])
    assert md["http_tokens"] == "required"
    assert md["http_put_response_hop_limit"] == 1
    assert md["http_endpoint"] == "enabled"
    assert one(lt["iam_instance_profile"])["arn"] == "${aws_iam_instance_profile.presignd.arn}"
    nic = one(lt["network_interfaces"])
    assert nic["security_groups"] == ["${aws_security_group.instance.id}"]
    ebs = one(one(lt["block_device_mappings"])["ebs"])
    assert ebs["encrypted"] is True
    assert "templates/user-data.sh.tftpl" in lt["user_data"]


def test_instances_reachable_only_from_alb(tf):
    api_port = tf["locals"]["api_port"]
    assert api_port == 8000
    # No inline rules and no legacy rule resources that could add a way in.
    for name, sg in resources(tf, "aws_security_group").items():
        assert "ingress" not in sg and "egress" not in sg, name
    assert not resources(tf, "aws_security_group_rule")
    instance_rules = {n: r for n, r in resources(tf, "aws_vpc_security_group_ingress_rule").items()
                      if r["security_group_id"] == "${aws_security_group.instance.id}"}
    assert instance_rules, "no ingress rule on the instance security group"
    api_rules = []
    for name, r in instance_rules.items():
        assert "cidr_ipv4" not in r and "cidr_ipv6" not in r and "prefix_list_id" not in r, name
        assert "referenced_security_group_id" in r, name
        if resolve(tf, r["from_port"]) == api_port or resolve(tf, r["to_port"]) == api_port:
            api_rules.append(r)
        else:
            # The only other way in: the metrics port, from named groups.
            assert r["from_port"] == r["to_port"] == "${var.metrics_port}", name
    (api,) = api_rules
    assert resolve(tf, api["from_port"]) == resolve(tf, api["to_port"]) == 8000
    assert api["referenced_security_group_id"] == "${aws_security_group.alb.id}"
    assert api["ip_protocol"] == "tcp"
    # The ALB accepts 80/443 from var.allowed_cidrs only.
    for name, r in resources(tf, "aws_vpc_security_group_ingress_rule").items():
        if r["security_group_id"] == "${aws_security_group.alb.id}":
            assert r["from_port"] in (80, 443) and r["to_port"] == r["from_port"], name
            assert r["for_each"].find("var.allowed_cidrs") >= 0, name


def test_target_group_checks_health(tf):
    """A target group health check cannot carry credentials: it works with
    authentication on only because presignd never asks for them on GET
    /health (test_rendered_auth_config_keeps_health_public runs that)."""
    tg = resources(tf, "aws_lb_target_group")["presignd"]
    assert resolve(tf, tg["port"]) == 8000
    assert tg["protocol"] == "HTTP"
    hc = one(tg["health_check"])
    assert hc["path"] == "/health"
    assert hc["matcher"] == "200"
    assert hc["protocol"] == "HTTP" and hc["port"] == "traffic-port"
    assert hc.get("enabled", True) is True
    # Nothing in front of it asks for credentials either: the only listener
    # rule answers /metrics itself, and no listener authenticates.
    for name, rule in resources(tf, "aws_lb_listener_rule").items():
        for action in rule["action"]:
            assert action["type"] not in ("authenticate-oidc", "authenticate-cognito"), name
    for name, lst in resources(tf, "aws_lb_listener").items():
        for action in lst["default_action"]:
            assert "authenticate" not in str(action.get("type")), name


def test_waf_rate_limit_optional(tf):
    """waf_rate_limit > 0: a regional web ACL that allows by default, with
    one rate-based rule per client IP (the load balancer is the first hop:
    not FORWARDED_IP, which the client could write), blocking with 429, on
    the load balancer. 0 (the default): nothing."""
    assert tf["variable"]["waf_rate_limit"]["default"] == 0
    assert tf["locals"]["waf"] == "${var.waf_rate_limit > 0}"
    acl = resources(tf, "aws_wafv2_web_acl")["presignd"]
    assert acl["count"] == "${local.waf ? 1 : 0}"
    assert acl["scope"] == "REGIONAL"
    assert one(acl["default_action"]) == {"allow": [{}]}
    rule = one(acl["rule"])
    rate = one(one(rule["statement"])["rate_based_statement"])
    assert rate["aggregate_key_type"] == "IP"
    assert "forwarded_ip_config" not in rate and "scope_down_statement" not in rate
    assert rate["limit"] == "${var.waf_rate_limit}"
    assert rate["evaluation_window_sec"] == 300       # the variable is per 5 minutes
    block = one(one(rule["action"])["block"])
    assert one(block["custom_response"])["response_code"] == 429
    for vis in (one(rule["visibility_config"]), one(acl["visibility_config"])):
        assert vis["cloudwatch_metrics_enabled"] is True
        assert vis["sampled_requests_enabled"] is True
        assert vis["metric_name"]
    assoc = resources(tf, "aws_wafv2_web_acl_association")["presignd"]
    assert assoc["count"] == "${local.waf ? 1 : 0}"
    assert assoc["resource_arn"] == "${aws_lb.presignd.arn}"
    assert assoc["web_acl_arn"] == "${aws_wafv2_web_acl.presignd[0].arn}"
    assert "waf_rate_limit >= 10" in one(tf["variable"]["waf_rate_limit"]["validation"])["condition"]


def test_trusted_proxies_are_the_load_balancer_subnets(tf):
    """X-Forwarded-For is believed from the load balancer's subnets only:
    looked up, and put in the template's one "trusted_proxies: []" line
    (terraform test checks the result)."""
    subnets = tf["data"]["aws_subnet"]["alb"]
    assert subnets["for_each"] == "${toset(var.subnet_ids)}"
    assert tf["locals"]["trusted_proxies"] == \
        "${sort(distinct([for s in data.aws_subnet.alb : s.cidr_block]))}"
    instance_config = tf["locals"]["instance_config"]
    assert re.match(r"\$\{replace\(\s*local\.presignd_config,", instance_config), instance_config
    assert "jsonencode(local.trusted_proxies)" in instance_config
    template = (TF_DIR / "templates" / "presignd.yaml.tftpl").read_text()
    assert template.count("\n  trusted_proxies: []\n") == 1
    lt = resources(tf, "aws_launch_template")["presignd"]
    assert "config                 = local.instance_config" in lt["user_data"]


def test_load_balancer_and_listeners(tf):
    lb = resources(tf, "aws_lb")["presignd"]
    assert lb["load_balancer_type"] == "application"
    assert lb["subnets"] == "${var.subnet_ids}"
    assert lb["security_groups"] == ["${aws_security_group.alb.id}"]
    listeners = resources(tf, "aws_lb_listener")
    assert listeners["http"]["port"] == 80 and listeners["http"]["protocol"] == "HTTP"
    https = listeners["https"]
    assert https["port"] == 443 and https["protocol"] == "HTTPS"
    assert "var.certificate_arn" in https["certificate_arn"]
    assert "local.https" in https["count"]
    assert tf["locals"]["https"] == '${var.certificate_arn != ""}'
    # /metrics is answered by the load balancer itself, never forwarded.
    rule = resources(tf, "aws_lb_listener_rule")["hide_metrics"]
    assert one(rule["action"])["type"] == "fixed-response"
    assert "/metrics" in one(one(rule["condition"])["path_pattern"])["values"]


def test_autoscaling_group(tf):
    asg = resources(tf, "aws_autoscaling_group")["presignd"]
    assert asg["vpc_zone_identifier"] == "${local.instance_subnets}"
    assert "var.subnet_ids" in tf["locals"]["instance_subnets"]
    assert asg["target_group_arns"] == ["${aws_lb_target_group.presignd.arn}"]
    assert asg["health_check_type"] == "ELB"
    lt = one(asg["launch_template"])
    assert lt["id"] == "${aws_launch_template.presignd.id}"
    assert asg["min_size"] == "${var.min_size}" and asg["max_size"] == "${var.max_size}"


# ---------------------------------------------------------------------------
# variables and outputs


KEY_VALIDATED = {
    "region", "name", "bucket_name", "upload_prefix", "cors_allowed_origins",
    "instance_type", "vpc_id", "subnet_ids", "min_size", "max_size", "desired_capacity",
    "presignd_package_url", "presign_expires", "max_file_size", "allowed_types",
    "certificate_arn", "allowed_cidrs",
    "auth_mode", "api_keys", "api_keys_ssm_parameter", "jwt_jwks_url", "jwt_issuer",
    "jwt_audience", "jwt_algorithms", "jwt_leeway", "jwt_prefix", "jwt_permissions_claim",
    "rate_limit_requests_per_second", "rate_limit_burst", "waf_rate_limit",
}


def test_variables_described_and_validated(tf):
    variables = tf["variable"]
    missing = KEY_VALIDATED - set(variables)
    assert not missing, f"variables missing: {missing}"
    for name, v in variables.items():
        assert isinstance(v.get("description"), str) and len(v["description"]) > 15, name
        assert "type" in v, f"{name} has no type"
    for name in KEY_VALIDATED:
        vals = variables[name].get("validation", [])
        assert vals, f"{name} has no validation"
        for val in vals:
            assert f"var.{name}" in val["condition"], (name, val["condition"])
            assert val["error_message"].endswith("."), name
    assert 'endswith(var.upload_prefix, "/")' in variables["upload_prefix"]["validation"][0]["condition"]
    assert "length(var.cors_allowed_origins) > 0" in variables["cors_allowed_origins"]["validation"][0]["condition"]
    assert "length(var.subnet_ids) >= 2" in variables["subnet_ids"]["validation"][0]["condition"]
    cond = variables["presign_expires"]["validation"][0]["condition"]
    assert ">= 1" in cond and "<= 604800" in cond
    # What the user-data installs with apt: a .deb, nothing else.
    assert "\\.deb$" in variables["presignd_package_url"]["validation"][0]["condition"]
    # Nothing changes for a deployment that sets none of the new variables.
    assert variables["auth_mode"]["default"] == "none"
    assert variables["api_keys"]["default"] == [] and variables["api_keys_ssm_parameter"]["default"] == ""
    assert variables["rate_limit_requests_per_second"]["default"] == 0
    assert variables["audit_log"]["default"] is False
    assert variables["waf_rate_limit"]["default"] == 0
    conds = " ".join(v["condition"] for v in variables["jwt_jwks_url"]["validation"])
    assert "^https://" in conds


def test_outputs(tf):
    outputs = tf["output"]
    for name in ("api_url", "bucket_name", "instance_role_arn", "autoscaling_group_name"):
        assert name in outputs, name
    for name, o in outputs.items():
        assert o.get("description"), name
    assert "aws_lb.presignd.dns_name" in outputs["api_url"]["value"]


# ---------------------------------------------------------------------------
# user-data and the presignd.yaml it writes, rendered by Terraform itself


def tf_render(expr, workdir):
    """Evaluate EXPR with `terraform console` in WORKDIR (no providers needed)."""
    out = subprocess.run([terraform_bin(), "console", "-no-color"], input=f"jsonencode({expr})\n",
                         cwd=workdir, capture_output=True, text=True, env=TF_ENV, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(json.loads(out.stdout))


def hcl_value(v):
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {hcl_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(hcl_value(x) for x in v) + "]"
    return json.dumps(v)


CONFIG_VARS = {
    "port": 8000, "metrics_port": 9464, "workers": "auto", "shutdown_timeout": 30,
    "bucket": "files-example", "region": "eu-west-1", "expires": 900,
    "max_file_size": 10485760, "prefix": "uploads/",
    "allowed_types": {".pdf": "application/pdf", ".jpg": "image/jpeg"},
    "cors_origins": ["https://app.example.com", "http://localhost:8001"], "cors_max_age": 3000,
}

# API keys (what the clients hold) and the principals they stand for.
ALICE_KEY = "presignd-test-key-alice-" + "a1" * 16
REPORTING_KEY = "presignd-test-key-reporting-" + "b2" * 16


def sha256_hex(s):
    import hashlib
    return hashlib.sha256(s.encode()).hexdigest()


API_KEYS = [
    {"name": "alice", "sha256": sha256_hex(ALICE_KEY).upper(), "prefix": "alice/",
     "permissions": ["upload", "download", "list", "delete"]},
    {"name": "reporting", "sha256": sha256_hex(REPORTING_KEY), "prefix": "",
     "permissions": ["list", "download"]},
]
SSM_PARAMETER = "/presignd/api-keys"
JWT_SETTINGS = {"jwt_jwks_url": "https://idp.example.com/.well-known/jwks.json",
                "jwt_issuer": "https://idp.example.com/", "jwt_audience": "presignd",
                "jwt_algorithms": ["RS256"], "jwt_leeway": 30}

# The auth/rate limit/audit variables of each rendered variant, on top of
# the defaults in variables.tf.
AUTH_VARIANTS = {
    "default": {},
    "api_key": {"auth_mode": "api_key", "api_keys": API_KEYS,
                "rate_limit_requests_per_second": 0.5, "rate_limit_burst": 2,
                "audit_log": True},
    "api_key_ssm": {"auth_mode": "api_key", "api_keys_ssm_parameter": SSM_PARAMETER},
    "jwt": dict(JWT_SETTINGS, auth_mode="jwt", rate_limit_requests_per_second=10),
}


AUTH_TEMPLATE_VARS = {        # template variable: Terraform variable (ec2.tf)
    "auth_mode": "auth_mode", "api_keys": "api_keys",
    "api_keys_ssm_parameter": "api_keys_ssm_parameter",
    "jwt_jwks_url": "jwt_jwks_url", "jwt_issuer": "jwt_issuer", "jwt_audience": "jwt_audience",
    "jwt_algorithms": "jwt_algorithms", "jwt_leeway": "jwt_leeway", "jwt_prefix": "jwt_prefix",
    "jwt_permissions_claim": "jwt_permissions_claim",
    "rate_limit_rps": "rate_limit_requests_per_second",
    "rate_limit_burst": "rate_limit_burst", "audit_log": "audit_log",
}


def config_vars(tf, variant):
    """The presignd.yaml.tftpl variables ec2.tf passes, for VARIANT."""
    v = {name: body.get("default") for name, body in tf["variable"].items()}
    v.update(AUTH_VARIANTS[variant])
    # What Terraform makes of optional(string, "") in the api_keys type.
    v["api_keys"] = [dict({"prefix": ""}, **key) for key in v["api_keys"]]
    return dict(CONFIG_VARS, **{t: v[name] for t, name in AUTH_TEMPLATE_VARS.items()})


def test_config_vars_are_what_ec2_tf_passes(tf):
    """The tests render the template with the same variables as ec2.tf."""
    # The top-level keys of the templatefile() object (four spaces in).
    config = tf["locals"]["presignd_config"]
    passed = dict(re.findall(r"^ {4}([a-z_]+)\s*=\s*(.*)$", config, re.M))
    assert set(passed) == set(config_vars(tf, "default")), passed
    for t, name in AUTH_TEMPLATE_VARS.items():
        assert passed[t] == "var." + name, (t, passed[t])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, tf):
    """The config of each AUTH_VARIANTS entry and the user-data around the
    default one (with api_keys_ssm_parameter set, as only that variant
    uses it), rendered by Terraform itself in one `terraform console`."""
    if not terraform_bin():
        harness.require(False, "terraform is not installed: cannot render the templates")
    work = tmp_path_factory.mktemp("tfrender")
    for f in (TF_DIR / "templates").iterdir():
        shutil.copy(f, work / f.name)
    exprs = {name: f'templatefile("presignd.yaml.tftpl", {hcl_value(config_vars(tf, name))})'
             for name in AUTH_VARIANTS}
    user_data_vars = hcl_value({
        "package_url": "s3://artifacts-example/presignd/presignd_1.0.0-1_amd64.deb",
        "package_sha256": "0" * 64, "region": "eu-west-1",
        "api_keys_ssm_parameter": SSM_PARAMETER})[:-1]
    exprs["user_data"] = (f'templatefile("user-data.sh.tftpl", {user_data_vars}, '
                          f'"config" = {exprs["default"]}}})')
    out = tf_render("{" + ", ".join(f'"{k}" = {e}' for k, e in exprs.items()) + "}", work)
    configs = {name: out[name] for name in AUTH_VARIANTS}
    return {"config": configs["default"], "configs": configs, "user_data": out["user_data"],
            "dir": work}


def presignd_binary():
    binary = os.environ.get("PRESIGND_BIN") or str(ROOT / "build" / "presignd")
    if not os.access(binary, os.X_OK):
        harness.require(False, f"no presignd binary at {binary} (run make)")
    return binary


def presignd_check(text, tmp_path, name="presignd.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return subprocess.run([presignd_binary(), "-t", "-c", str(path)], capture_output=True,
                          text=True, timeout=30)


def test_rendered_config_is_what_the_variables_say(rendered):
    import yaml
    cfg = yaml.safe_load(rendered["config"])
    assert cfg["server"]["listen"] == "0.0.0.0:8000"
    assert cfg["server"]["metrics_listen"] == "0.0.0.0:9464"
    assert cfg["s3"] == {"bucket": "files-example", "region": "eu-west-1"}
    assert cfg["presign"] == {"expires": 900, "max_file_size": 10485760}
    assert cfg["uploads"]["prefix"] == "uploads/"
    assert cfg["uploads"]["allowed_types"] == CONFIG_VARS["allowed_types"]
    assert cfg["cors"]["allow_origins"] == CONFIG_VARS["cors_origins"]
    # Authentication off unless asked for, no rate limit, no audit log.
    # (ec2.tf fills trusted_proxies in with the load balancer's subnets.)
    assert cfg["auth"] == {"mode": "none"}
    assert cfg["rate_limit"] == {"requests_per_second": 0, "burst": 20, "trusted_proxies": []}
    assert "audit" not in cfg


def test_rendered_auth_configs_are_what_the_variables_say(rendered):
    import yaml
    cfg = yaml.safe_load(rendered["configs"]["api_key"])
    assert cfg["auth"] == {"mode": "api_key", "api_keys": API_KEYS}
    assert cfg["rate_limit"] == {"requests_per_second": 0.5, "burst": 2, "trusted_proxies": []}
    assert cfg["audit"] == {"log_file": "/var/log/presignd/audit.log"}
    cfg = yaml.safe_load(rendered["configs"]["jwt"])
    assert cfg["auth"] == {"mode": "jwt", "jwt": {
        "jwks_url": JWT_SETTINGS["jwt_jwks_url"], "issuer": JWT_SETTINGS["jwt_issuer"],
        "audience": "presignd", "algorithms": ["RS256"], "leeway": 30,
        "prefix": "users/{sub}/", "permissions_claim": "scope"}}
    assert cfg["rate_limit"]["requests_per_second"] == 10
    assert "audit" not in cfg                      # audit_log's default
    # Keys from SSM: a marker in place of the list, filled in at boot.
    text = rendered["configs"]["api_key_ssm"]
    assert "\n  api_keys: __PRESIGND_API_KEYS_FROM_SSM__\n" in text
    assert SSM_PARAMETER in text


@pytest.mark.parametrize("variant", ["default", "api_key", "jwt"])
def test_rendered_config_passes_presignd_check(rendered, tmp_path, variant):
    out = presignd_check(rendered["configs"][variant], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "test is successful" in out.stdout + out.stderr


def test_rendered_config_with_unfilled_ssm_marker_is_refused(rendered, tmp_path):
    """If the user-data never put the keys from SSM in, presignd -t (and
    so the boot) fails: the marker is no list of keys."""
    out = presignd_check(rendered["configs"]["api_key_ssm"], tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert re.search(r"presignd\.yaml:\d+:\d+: auth\.api_keys", out.stdout + out.stderr), \
        out.stdout + out.stderr


@pytest.mark.parametrize("variant", ["api_key", "jwt"])
def test_rendered_auth_config_keeps_health_public(rendered, presignd, tmp_path, variant):
    """presignd on the rendered auth:, rate_limit: and audit: sections (the
    rest from the test S3 server; the test client stands in for the load
    balancer, whose subnets are trusted_proxies): the bare GET /health the
    target group sends answers 200, however often (it is never rate
    limited), while the API wants credentials."""
    import yaml
    cfg = yaml.safe_load(rendered["configs"][variant])
    audit = tmp_path / "audit.log"
    d = presignd({"auth": cfg["auth"],
                  "rate_limit": dict(cfg["rate_limit"], trusted_proxies=["127.0.0.1/32"]),
                  "audit": {"log_file": str(audit)}})
    for _ in range(8):                              # well past the burst
        r = d.get("/health")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "healthy"
    r = d.post("/upload-url", json={"filename": "a.pdf", "size": 10})
    assert r.status_code == 401, r.text
    assert r.json()["error_code"] == "unauthorized"
    if variant == "api_key":
        r = d.post("/upload-url", json={"filename": "a.pdf", "size": 10},
                   headers={"Authorization": "Bearer " + ALICE_KEY,
                            "X-Forwarded-For": "203.0.113.9, 198.51.100.7"})
        assert r.status_code == 200, r.text
        assert r.json()["file_key"].startswith("uploads/alice/")
        # The audit line names the principal and the client the "load
        # balancer" saw (the right-most address), not the load balancer.
        harness.wait_for(lambda: audit.exists() and "granted" in audit.read_text(), 10,
                         what="the audit line")
        lines = [json.loads(line) for line in audit.read_text().splitlines()]
        granted = [a for a in lines if a["outcome"] == "granted"]
        assert granted and granted[-1]["principal"] == "alice"
        assert granted[-1]["client"] == "198.51.100.7"
        assert ALICE_KEY not in audit.read_text()


def test_rendered_user_data(rendered, tmp_path):
    script = rendered["user_data"]
    assert script.startswith("#!/bin/bash\n")
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    out = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if shutil.which("shellcheck"):
        out = subprocess.run(["shellcheck", "-s", "bash", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout
    # The package is installed by apt from its file, which resolves the
    # libraries it depends on: none is listed by hand, nothing is unpacked.
    assert re.search(r"^\(cd \"\$workdir\" && retry apt-get install -y [^\n]*\./presignd\.deb\)$",
                     script, re.M), script
    for lib in ("libevent", "libcurl4", "libssl3", "libyaml", "libjson-c", "libuuid", "libexpat"):
        assert lib not in script, lib
    assert "tar " not in script and "make dist" not in script
    assert 'echo "$PACKAGE_SHA256  $workdir/presignd.deb" | sha256sum -c -' in script
    assert "X-aws-ec2-metadata-token" in script  # IMDSv2 for the s3:// package
    assert "presignd=/usr/sbin/presignd" in script
    assert "systemctl enable --now presignd" in script
    assert '"$presignd" -t -c "$CONFIG"' in script
    # The config is written verbatim (quoted heredoc: no shell expansion),
    # after the package (whose example it replaces) and before the start.
    assert "<<'PRESIGND_CONFIG_EOF'\n" + rendered["config"] + "\nPRESIGND_CONFIG_EOF" in script
    assert script.index("./presignd.deb") < script.index("PRESIGND_CONFIG_EOF") < \
        script.index("systemctl enable --now presignd")


def test_user_data_installs_the_package_with_apt(rendered, tmp_path):
    """The user-data's install step, run for real on the package `make
    deb` builds, in test_deb.py's throwaway root (an overlay of this
    machine's /, where the libraries are installed, as on an instance after
    apt resolved them): apt installs it from the file, nothing is enabled or
    started, and the binary runs."""
    from test_deb import Sandbox, build_deb, starts
    harness.require(os.geteuid() == 0, "installing the package needs root")
    script = rendered["user_data"]
    m = re.search(r"^retry\(\) \{\n.*?^\}\n", script, re.M | re.S)
    assert m, "retry() not found in the user-data"
    (install,) = re.findall(r"^.*apt-get install [^\n]*\./presignd\.deb.*$", script, re.M)
    deb = build_deb()
    box = Sandbox(tmp_path)
    try:
        box.sh("mkdir -m 0755 /tmp/presignd.test", check=True)
        box.copy_in(deb["deb"], "/tmp/presignd.test/presignd.deb")
        r = box.sh("set -euo pipefail\nexport DEBIAN_FRONTEND=noninteractive\n"
                   "workdir=/tmp/presignd.test\n%s%s\n" % (m.group(0), install), shell="bash")
        assert r.returncode == 0, r.stdout + r.stderr
        assert box.sh("dpkg-query -W -f '${Status}' presignd").stdout == "install ok installed"
        assert not starts(box.systemctl_calls())
        v = box.sh("/usr/sbin/presignd -V")
        assert v.returncode == 0 and v.stdout.startswith("presignd "), v
    finally:
        box.close()


def shell_functions(script, *names):
    """The definitions of the shell functions NAMES in SCRIPT, in order."""
    out = []
    for name in names:
        m = re.search(r"^%s\(\) \{\n.*?^\}\n" % re.escape(name), script, re.M | re.S)
        assert m, f"{name}() not found in the user-data"
        out.append(m.group(0))
    return "".join(out)


def test_user_data_fetches_s3_package_with_role_credentials(rendered, s3, tmp_path, http_stub):
    """The user-data's fetch_package, run for real: IMDSv2 credentials (from
    a stand-in metadata service) and curl's SigV4 against the RADOS Gateway,
    which verifies signatures like S3. Only the two AWS addresses are
    pointed at the local servers."""
    func = shell_functions(rendered["user_data"], "role_credentials", "fetch_package")
    for aws_url in ("http://169.254.169.254", '"https://$bucket.s3.amazonaws.com/"',
                    '"https://$bucket.s3.$bucket_region.amazonaws.com/$key"'):
        assert aws_url in func, aws_url
    func = (func.replace("http://169.254.169.254", "$TEST_IMDS")
            .replace('"https://$bucket.s3.amazonaws.com/"', '"$TEST_S3/$bucket"')
            .replace('"https://$bucket.s3.$bucket_region.amazonaws.com/$key"',
                     '"$TEST_S3/$bucket/$key"'))
    key = "artifacts/%s/presignd_1.0.0-1_amd64.deb" % uuid.uuid4()
    payload = os.urandom(4096)
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key=key, Body=payload)
    # Static gateway keys have no session token; the header is then left out.
    imds = http_stub(harness.ImdsStub({"Code": "Success", "Type": "AWS-HMAC",
                                       "AccessKeyId": s3.access_key,
                                       "SecretAccessKey": s3.secret_key, "Token": "",
                                       "Expiration": "2099-01-01T00:00:00Z"},
                                      role="presignd-instance"))
    out_file = tmp_path / "presignd.deb"
    try:
        runner = ("set -euo pipefail\nREGION=%s\n%s\nfetch_package \"$1\" \"$2\"\n"
                  % (s3.region, func))
        env = dict(os.environ, TEST_IMDS=imds.endpoint, TEST_S3=s3.endpoint)
        out = subprocess.run(["bash", "-c", runner, "user-data",
                              "s3://%s/%s" % (s3.bucket, key), str(out_file)],
                             capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out_file.read_bytes() == payload
        assert any(q.method == "PUT" and q.path == "/latest/api/token" for q in imds.requests)
        # A wrong secret is refused by the gateway: the signature is checked.
        imds.creds = dict(imds.creds, SecretAccessKey="not-" + s3.secret_key)
        out_file.unlink()
        out = subprocess.run(["bash", "-c", runner, "user-data",
                              "s3://%s/%s" % (s3.bucket, key), str(out_file)],
                             capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode != 0
        assert "403" in out.stderr
    finally:
        client.delete_object(Bucket=s3.bucket, Key=key)


def sigv4_problem(req, creds, region, service):
    """Why REQ (a harness.StubRequest) is not signed by CREDS for SERVICE in
    REGION with SigV4 header authentication, or None when it is: the
    signature is computed again by botocore, over the headers the request
    says it signed, and compared."""
    import hmac
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, *"
                     r"SignedHeaders=([a-z0-9;-]+), *Signature=([0-9a-f]{64})",
                     req.headers.get("Authorization", ""))
    if not m:
        return "no SigV4 Authorization header: %r" % req.headers.get("Authorization")
    key_id, date, scope_region, scope_service, signed, signature = m.groups()
    if (key_id, scope_region, scope_service) != (creds["AccessKeyId"], region, service):
        return "credential scope %s/%s/%s" % (key_id, scope_region, scope_service)
    amz_date = req.headers.get("X-Amz-Date", "")
    if not amz_date.startswith(date):
        return "X-Amz-Date %r outside the scope's date %s" % (amz_date, date)
    names = signed.split(";")
    must = {"host", "x-amz-date"} | ({"x-amz-security-token"} if creds.get("Token") else set())
    if not must <= set(names):
        return "SignedHeaders %s leave out %s" % (signed, sorted(must - set(names)))
    if creds.get("Token") and req.headers.get("X-Amz-Security-Token") != creds["Token"]:
        return "wrong or no session token"
    headers = {n: req.headers[n] for n in names if n in req.headers}
    if len(headers) != len(names):
        return "a signed header is missing"
    request = AWSRequest(method=req.method, url="http://%s%s" % (req.headers["Host"], req.path),
                         headers=headers, data=req.body)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"],
                                   creds.get("Token") or None), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)),
                                request)
    return None if hmac.compare_digest(expected, signature) else "signature does not match"


class SsmStub(harness.HttpStub):
    """SSM's GetParameter as AWS answers it (JSON 1.1 protocol on POST /),
    to callers whose request is SigV4-signed for service ssm with CREDS
    (checked with botocore). PARAMS: {name: value}."""

    def __init__(self, creds, region, params):
        super().__init__({"POST /": self._post})
        self.creds = creds
        self.region = region
        self.params = params

    @staticmethod
    def _error(kind, message):
        return 400, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
            {"__type": kind, "message": message})

    def _post(self, req):
        problem = sigv4_problem(req, self.creds, self.region, "ssm")
        if problem:
            return self._error("InvalidSignatureException", problem)
        if req.headers.get("X-Amz-Target") != "AmazonSSM.GetParameter":
            return self._error("UnknownOperationException", req.headers.get("X-Amz-Target"))
        if req.headers.get("Content-Type") != "application/x-amz-json-1.1":
            return self._error("SerializationException", "Content-Type")
        body = json.loads(req.body)
        if set(body) != {"Name", "WithDecryption"} or body["WithDecryption"] is not True:
            return self._error("ValidationException", "expected Name and WithDecryption: true")
        if body["Name"] not in self.params:
            return self._error("ParameterNotFound", "")
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps({"Parameter": {
            "Name": body["Name"], "Type": "String", "Value": self.params[body["Name"]],
            "Version": 3, "ARN": "arn:aws:ssm:%s:123456789012:parameter%s" % (
                self.region, body["Name"])}})


def test_make_fleet_still_renders_the_template(rendered, tf, tmp_path):
    """`make fleet` renders presignd.yaml.tftpl itself, from ec2.tf's
    templatefile() call, with tests/fleet/terraform.py (a reader of plain
    variables and literals): it must keep following, and get what
    Terraform gets."""
    import importlib.util
    import yaml
    spec = importlib.util.spec_from_file_location("fleet_terraform",
                                                  TESTS_DIR / "fleet" / "terraform.py")
    if spec is None or not (TESTS_DIR / "fleet" / "terraform.py").is_file():
        harness.require(False, "tests/fleet/terraform.py is not there")
    reader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reader)
    same = {"region": "eu-west-1", "presign_expires": 900, "max_file_size": 10485760,
            "upload_prefix": "uploads/", "allowed_types": CONFIG_VARS["allowed_types"],
            "cors_allowed_origins": CONFIG_VARS["cors_origins"], "cors_max_age_seconds": 3000,
            "shutdown_timeout": 30, "metrics_port": 9464, "workers": "auto"}
    for variant in ("default", "api_key", "jwt"):
        testvars = dict(same, **AUTH_VARIANTS[variant])
        if "api_keys" in testvars:
            testvars["api_keys"] = [dict({"prefix": ""}, **k) for k in testvars["api_keys"]]
        text, _ = reader.Deployment(testvars).presignd_config(
            {"aws_s3_bucket.files.bucket": "files-example"})
        assert yaml.safe_load(text) == yaml.safe_load(rendered["configs"][variant]), variant
        out = presignd_check(text, tmp_path, "fleet-%s.yaml" % variant)
        assert out.returncode == 0, out.stdout + out.stderr


def test_user_data_reads_api_keys_from_ssm(rendered, tmp_path, http_stub):
    """The user-data's api_keys_from_ssm, run for real on the config
    rendered for api_keys_ssm_parameter: IMDSv2 credentials (a stand-in
    metadata service, with a session token), GetParameter signed by curl for
    service ssm (checked by a stand-in SSM with botocore), the marker
    replaced by the parameter's keys; presignd -t then takes the file.
    Only the two AWS addresses are pointed at the local servers, and sleep
    is a no-op so the retries are quick."""
    import yaml
    script = rendered["user_data"]
    assert f'API_KEYS_SSM_PARAMETER="{SSM_PARAMETER}"' in script
    assert re.search(r'^if \[ -n "\$API_KEYS_SSM_PARAMETER" \]; then\n'
                     r'    api_keys_from_ssm "\$CONFIG\.new" "\$API_KEYS_SSM_PARAMETER"\nfi\n',
                     script, re.M), "the user-data does not fill the config from SSM"
    # Before the check and the start, after the config is written.
    assert script.index("<<'PRESIGND_CONFIG_EOF'") < script.index('    api_keys_from_ssm "$CONFIG') \
        < script.index('"$presignd" -t -c "$CONFIG"') < script.index("systemctl enable --now")
    funcs = shell_functions(script, "retry", "role_credentials", "ssm_parameter",
                            "api_keys_from_ssm")
    for aws_url in ("http://169.254.169.254", '"https://ssm.$REGION.amazonaws.com/"'):
        assert aws_url in funcs, aws_url
    funcs = (funcs.replace("http://169.254.169.254", "$TEST_IMDS")
             .replace('"https://ssm.$REGION.amazonaws.com/"', '"$TEST_SSM/"'))
    creds = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAEXAMPLEPRESIGND1",
             "SecretAccessKey": "presignd/test/secret/" + "x" * 20,
             "Token": "session-token-" + "t" * 40, "Expiration": "2099-01-01T00:00:00Z"}
    imds = http_stub(harness.ImdsStub(creds, role="presignd-instance"))
    keys = API_KEYS
    # As an operator writes it: pretty-printed JSON, over several lines.
    ssm = http_stub(SsmStub(creds, "eu-west-1", {SSM_PARAMETER: json.dumps(keys, indent=2)}))
    runner = ("set -euo pipefail\nREGION=eu-west-1\nsleep() { :; }\n%s\n"
              "api_keys_from_ssm \"$1\" \"$2\"\n" % funcs)
    env = dict(os.environ, TEST_IMDS=imds.endpoint, TEST_SSM=ssm.endpoint)

    def run(config_text, name=SSM_PARAMETER):
        path = tmp_path / "presignd.yaml"
        path.write_text(config_text)
        out = subprocess.run(["bash", "-c", runner, "user-data", str(path), name],
                             capture_output=True, text=True, env=env, timeout=120)
        return out, path.read_text()

    out, text = run(rendered["configs"]["api_key_ssm"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 API keys from SSM parameter /presignd/api-keys" in out.stdout
    assert "__PRESIGND_API_KEYS_FROM_SSM__" not in text
    assert yaml.safe_load(text)["auth"] == {"mode": "api_key", "api_keys": keys}
    # One line in place of the marker; the rest of the file as rendered.
    assert text.replace("  api_keys: " + json.dumps(keys) + "\n",
                        "  api_keys: __PRESIGND_API_KEYS_FROM_SSM__\n") == \
        rendered["configs"]["api_key_ssm"]
    check = presignd_check(text, tmp_path, "checked.yaml")
    assert check.returncode == 0, check.stdout + check.stderr
    posts = [q for q in ssm.requests if q.method == "POST"]
    assert len(posts) == 1 and json.loads(posts[0].body) == {"Name": SSM_PARAMETER,
                                                              "WithDecryption": True}
    assert any(q.method == "PUT" and q.path == "/latest/api/token" for q in imds.requests)

    # A wrong secret: SSM refuses the signature, the bootstrap says why (after
    # its retries) and the marker stays, so presignd -t would refuse the file.
    imds.creds = dict(creds, SecretAccessKey="not-" + creds["SecretAccessKey"])
    out, text = run(rendered["configs"]["api_key_ssm"])
    assert out.returncode != 0
    assert "HTTP 400" in out.stderr and "InvalidSignatureException" in out.stderr, out.stderr
    assert "failed 5 times" in out.stderr
    assert text == rendered["configs"]["api_key_ssm"]
    imds.creds = creds

    # No such parameter (or a typo in its name): said as such.
    out, text = run(rendered["configs"]["api_key_ssm"], name="/presignd/typo")
    assert out.returncode != 0 and "ParameterNotFound" in out.stderr, out.stderr
    assert text == rendered["configs"]["api_key_ssm"]

    # A value that is not a JSON list of keys is refused before presignd.
    for value, why in (("alice: 9f86d0", "is not JSON"), ('{"name": "alice"}', "non-empty JSON list"),
                       ("[]", "non-empty JSON list")):
        ssm.params[SSM_PARAMETER] = value
        out, text = run(rendered["configs"]["api_key_ssm"])
        assert out.returncode != 0 and why in out.stderr, (value, out.stderr)
        assert text == rendered["configs"]["api_key_ssm"]

    # A list whose keys are wrong goes in, and presignd -t (which the
    # user-data runs next) refuses it with the line and column.
    ssm.params[SSM_PARAMETER] = json.dumps([dict(keys[0], sha256="not-hex"),
                                            dict(keys[1], permissions=["admin"])])
    out, text = run(rendered["configs"]["api_key_ssm"])
    assert out.returncode == 0, out.stderr
    check = presignd_check(text, tmp_path, "checked.yaml")
    assert check.returncode == 1
    errors = check.stdout + check.stderr
    assert re.search(r"checked\.yaml:\d+:\d+: auth\.api_keys\[0\]\.sha256", errors), errors
    assert re.search(r"checked\.yaml:\d+:\d+: auth\.api_keys\[1\]\.permissions", errors), errors


@pytest.fixture(scope="module")
def tf_initialized(tmp_path_factory):
    """A copy of terraform/ (and aws/, which its tests read) after
    `terraform init` from a local provider mirror. Providers cannot be
    downloaded here, so this runs only where a mirror exists
    (TF_PLUGIN_MIRROR, default /opt/tf-plugins)."""
    mirror = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
    if not terraform_bin():
        harness.require(False, "terraform is not installed")
    if not (mirror / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        harness.require(False, f"no local AWS provider mirror at {mirror} (providers cannot be downloaded here)")
    base = tmp_path_factory.mktemp("tfinit")
    rc = base / "terraformrc"
    rc.write_text('provider_installation {\n  filesystem_mirror {\n'
                  f'    path = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/*"]\n'
                  '  }\n  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n')
    work = base / "terraform"
    shutil.copytree(TF_DIR, work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*",
                                                                 ".terraform.lock.hcl"))
    shutil.copytree(AWS_DIR, base / "aws")
    env = dict(TF_ENV, TF_CLI_CONFIG_FILE=str(rc))
    init = subprocess.run([terraform_bin(), "init", "-backend=false", "-input=false", "-no-color"],
                          cwd=work, capture_output=True, text=True, env=env, timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    return work, env


def test_terraform_validate(tf_initialized):
    work, env = tf_initialized
    val = subprocess.run([terraform_bin(), "validate", "-no-color"], cwd=work,
                         capture_output=True, text=True, env=env, timeout=300)
    assert val.returncode == 0, val.stdout + val.stderr


def test_terraform_test_plans(tf_initialized):
    """terraform/tests/*.tftest.hcl: a plan with the real provider and no
    AWS account; the provider-rendered policy equals aws/iam-policy.json,
    and bad variable values are refused."""
    work, env = tf_initialized
    out = subprocess.run([terraform_bin(), "test", "-no-color"], cwd=work,
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"Success! (\d+) passed, 0 failed", out.stdout)
    assert m and int(m.group(1)) >= 34, out.stdout


# ---------------------------------------------------------------------------
# scripts/setup-aws


def test_setup_aws_is_clean_bash():
    out = subprocess.run(["bash", "-n", str(SETUP_AWS)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert os.access(SETUP_AWS, os.X_OK)
    if not shutil.which("shellcheck"):
        harness.require(False, "shellcheck is not installed (apt-get install shellcheck)")
    out = subprocess.run(["shellcheck", str(SETUP_AWS)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


SETUP_ARGS = ["--bucket", "files-example", "--region", "eu-west-1", "--prefix", "up/loads/",
              "--origin", "https://app.example.com", "--origin", "http://localhost:8001"]


def expected_policy(bucket="files-example", prefix="up/loads/"):
    text = (AWS_DIR / "iam-policy.json").read_text()
    return json.loads(text.replace("${BUCKET}", bucket).replace("${PREFIX}", prefix))


def expected_cors():
    cors = json.loads((AWS_DIR / "bucket-cors.json").read_text())
    cors["CORSRules"][0]["AllowedOrigins"] = ["https://app.example.com", "http://localhost:8001"]
    return cors


def test_setup_aws_dry_run_prints_the_commands():
    out = subprocess.run([str(SETUP_AWS), *SETUP_ARGS, "--dry-run"], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, PATH="/usr/bin:/bin"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    commands = [line for line in lines if line.startswith("aws ")]
    verbs = []
    for c in commands:
        words = c.split()
        service = next(i for i, w in enumerate(words) if w in ("s3api", "iam"))
        verbs.append(words[service + 1])
    assert verbs == ["create-bucket", "put-public-access-block", "put-bucket-ownership-controls",
                     "put-bucket-encryption", "put-bucket-cors",
                     "put-bucket-lifecycle-configuration", "create-role", "put-role-policy",
                     "create-instance-profile", "add-role-to-instance-profile"], verbs
    assert "LocationConstraint=eu-west-1" in out.stdout

    def document(title):
        start = next(i for i, line in enumerate(lines) if line.startswith(f"# {title}"))
        body = []
        for line in lines[start + 1:]:
            if not line.startswith("#   "):
                break
            body.append(line[4:])
        return json.loads("\n".join(body))

    assert document("role policy") == expected_policy()
    assert document("bucket CORS") == expected_cors()
    assert "dry run: nothing was changed" in out.stdout


def test_setup_aws_refuses_bad_input():
    base = ["--bucket", "files-example", "--region", "eu-west-1", "--origin", "https://a.example",
            "--dry-run"]
    for extra in (["--prefix", "uploads"], ["--prefix", "up*/"], ["--prefix", "/uploads/"],
                  ["--origin", "https://a.example/path"]):
        out = subprocess.run([str(SETUP_AWS), *base, *extra], capture_output=True, text=True)
        assert out.returncode == 2, (extra, out.stdout)
        assert out.stdout == ""
    out = subprocess.run([str(SETUP_AWS), "--bucket", "files-example", "--region", "eu-west-1",
                          "--dry-run"], capture_output=True, text=True)
    assert out.returncode == 2 and "--origin" in out.stderr


FAKE_AWS = r"""#!/bin/bash
# Records each call (and the documents it names) as one JSON line; says
# "not found" to the existence checks, like a fresh account.
python3 - "$@" <<'EOF' >> "$FAKE_AWS_LOG"
import json, sys
args = sys.argv[1:]
docs = {}
for a in args:
    if a.startswith("file://"):
        docs[a] = json.load(open(a[7:]))
print(json.dumps({"args": args, "docs": docs}))
EOF
case " $* " in
*" head-bucket "*|*" get-role "*|*" get-instance-profile "*) exit 254 ;;
esac
echo '{}'
"""


def test_setup_aws_applies_the_aws_documents(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "aws"
    fake.write_text(FAKE_AWS)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.jsonl"
    env = dict(os.environ, PATH=f"{bindir}:/usr/bin:/bin", FAKE_AWS_LOG=str(log))
    out = subprocess.run([str(SETUP_AWS), *SETUP_ARGS, "--versioning"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]

    def call(verb):
        found = [c for c in calls if verb in c["args"]]
        assert len(found) == 1, (verb, [c["args"] for c in calls])
        return found[0]

    def doc(c):
        (d,) = c["docs"].values()
        return d

    assert doc(call("put-role-policy")) == expected_policy()
    assert doc(call("put-bucket-cors")) == expected_cors()
    assert doc(call("put-public-access-block")) == json.loads(
        (AWS_DIR / "public-access-block.json").read_text())
    assert doc(call("put-bucket-encryption")) == json.loads(
        (AWS_DIR / "bucket-encryption.json").read_text())
    assert doc(call("create-role")) == json.loads((AWS_DIR / "trust-policy.json").read_text())
    assert "Status=Enabled" in call("put-bucket-versioning")["args"]
    assert "Rules=[{ObjectOwnership=BucketOwnerEnforced}]" in call(
        "put-bucket-ownership-controls")["args"]
    add = call("add-role-to-instance-profile")["args"]
    assert add[add.index("--role-name") + 1] == "presignd"
    # Every bucket call names the bucket and the region.
    for c in calls:
        if "s3api" in c["args"]:
            assert c["args"][:3] == ["--region", "eu-west-1", "s3api"], c["args"]
            assert c["args"][c["args"].index("--bucket") + 1] == "files-example"


def test_setup_aws_kms_key(tmp_path):
    key = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    out = subprocess.run([str(SETUP_AWS), *SETUP_ARGS, "--kms-key", key, "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# bucket encryption"))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("#   "):
            break
        body.append(line[4:])
    rule = json.loads("\n".join(body))["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                          "KMSMasterKeyID": key}
    assert rule["BucketKeyEnabled"] is True
