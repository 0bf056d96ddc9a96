# `terraform test` for this configuration: plans it with the real AWS
# provider but no AWS account (fake keys, every remote check skipped, the
# AMI lookup overridden), then checks what would be built, including the
# exact IAM policy the provider renders against aws/iam-policy.json, and
# that bad variable values are refused. Needs the hashicorp/aws provider
# installed (terraform init); tests/deploy/test_terraform.py runs it
# when a local provider mirror is available.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "AKIAIOSFODNN7EXAMPLE"
  secret_key                  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_data {
  target          = data.aws_ami.selected
  override_during = plan
  values = {
    id               = "ami-0123456789abcdef0"
    root_device_name = "/dev/xvda"
  }
}

# The load balancer's subnets, whose networks presignd trusts to name the
# client in X-Forwarded-For.
override_data {
  target          = data.aws_subnet.alb["subnet-0123456789abcdef0"]
  override_during = plan
  values = {
    cidr_block = "10.0.1.0/24"
  }
}

override_data {
  target          = data.aws_subnet.alb["subnet-0fedcba9876543210"]
  override_during = plan
  values = {
    cidr_block = "10.0.0.0/24"
  }
}

# Read only with api_keys_ssm_parameter (the parameter's ARN names the account).
override_data {
  target          = data.aws_caller_identity.current
  override_during = plan
  values = {
    account_id = "123456789012"
  }
}

variables {
  region               = "eu-west-1"
  bucket_name          = "presignd-test-files"
  upload_prefix        = "uploads/"
  cors_allowed_origins = ["https://app.example.com"]
  vpc_id               = "vpc-0123456789abcdef0"
  subnet_ids           = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  presignd_package_url = "s3://presignd-artifacts/presignd_1.0.0-1_amd64.deb"
}

run "plan_defaults" {
  command = plan

  assert {
    condition = jsondecode(data.aws_iam_policy_document.presignd.json) == jsondecode(
      replace(replace(file("../aws/iam-policy.json"), "$${BUCKET}", var.bucket_name), "$${PREFIX}", var.upload_prefix)
    )
    error_message = "The rendered instance policy differs from aws/iam-policy.json."
  }

  assert {
    condition     = aws_launch_template.presignd.metadata_options[0].http_tokens == "required" && aws_launch_template.presignd.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "IMDSv2 must be required with a hop limit of 1."
  }

  assert {
    condition     = jsondecode(data.aws_iam_policy_document.package[0].json).Statement[0].Resource == "arn:aws:s3:::presignd-artifacts/presignd_1.0.0-1_amd64.deb"
    error_message = "The package policy must name exactly the package object."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.files.rule : one(r.apply_server_side_encryption_by_default).sse_algorithm]) == "AES256" && length(data.aws_iam_policy_document.kms) == 0
    error_message = "Without a KMS key, the bucket uses SSE-S3 and the role gets no KMS rights."
  }

  assert {
    condition     = aws_s3_bucket_public_access_block.files.block_public_acls && aws_s3_bucket_public_access_block.files.block_public_policy && aws_s3_bucket_public_access_block.files.ignore_public_acls && aws_s3_bucket_public_access_block.files.restrict_public_buckets
    error_message = "All four public access blocks must be on."
  }

  assert {
    condition     = length(aws_lb_listener.https) == 0 && aws_lb_listener.http.default_action[0].type == "forward"
    error_message = "Without a certificate, port 80 forwards and there is no HTTPS listener."
  }

  # presignd never asks for credentials on GET /health, whatever auth_mode:
  # the health check stays a bare GET (see plan_api_keys and plan_jwt too).
  assert {
    condition     = aws_lb_target_group.presignd.health_check[0].path == "/health" && aws_lb_target_group.presignd.health_check[0].matcher == "200" && aws_lb_target_group.presignd.health_check[0].protocol == "HTTP" && aws_lb_target_group.presignd.port == 8000
    error_message = "The target group must check GET /health (200) on port 8000."
  }

  assert {
    condition     = length(aws_wafv2_web_acl.presignd) == 0 && length(aws_wafv2_web_acl_association.presignd) == 0
    error_message = "Without waf_rate_limit, no WAF web ACL (nor association) is created."
  }

  assert {
    condition     = length(aws_iam_role_policy.ssm_api_keys) == 0 && length(data.aws_caller_identity.current) == 0
    error_message = "Without api_keys_ssm_parameter, the role gets no SSM rights."
  }

  assert {
    condition     = strcontains(local.instance_config, "auth:\n  mode: \"none\"\nrate_limit:\n  requests_per_second: 0\n")
    error_message = "By default the config has auth.mode none and no rate limit."
  }

  assert {
    condition     = strcontains(local.instance_config, "\n  trusted_proxies: [\"10.0.0.0/24\",\"10.0.1.0/24\"]\n") && !strcontains(local.instance_config, "trusted_proxies: []")
    error_message = "presignd must trust X-Forwarded-For from the load balancer's subnets, and from nothing else."
  }

  assert {
    condition     = !strcontains(local.instance_config, "\naudit:")
    error_message = "The audit log is off by default."
  }

  assert {
    condition     = output.waf_web_acl_arn == null
    error_message = "Without WAF, the web ACL output is null."
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.presignd.user_data), "listen: \"0.0.0.0:8000\"")
    error_message = "The user-data must write a config listening on 0.0.0.0:8000."
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.presignd.user_data), "<<'PRESIGND_CONFIG_EOF'\n${local.instance_config}\nPRESIGND_CONFIG_EOF\n")
    error_message = "The user-data must write the rendered config (local.instance_config, checked below) verbatim."
  }
}

run "plan_kms" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.files.rule : one(r.apply_server_side_encryption_by_default).sse_algorithm]) == "aws:kms"
    error_message = "With a KMS key, the bucket uses SSE-KMS."
  }

  assert {
    condition     = jsondecode(data.aws_iam_policy_document.kms[0].json).Statement[0].Resource == var.kms_key_arn
    error_message = "The role may use exactly the bucket's KMS key."
  }
}

run "plan_https" {
  command = plan

  variables {
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
  }

  assert {
    condition     = length(aws_lb_listener.https) == 1 && aws_lb_listener.http.default_action[0].type == "redirect"
    error_message = "With a certificate, HTTPS serves and port 80 redirects."
  }
}

run "prefix_without_slash" {
  command = plan
  variables {
    upload_prefix = "uploads"
  }
  expect_failures = [var.upload_prefix]
}

run "prefix_with_wildcard" {
  command = plan
  variables {
    upload_prefix = "up*/"
  }
  expect_failures = [var.upload_prefix]
}

run "no_origins" {
  command = plan
  variables {
    cors_allowed_origins = []
  }
  expect_failures = [var.cors_allowed_origins]
}

run "one_subnet" {
  command = plan
  variables {
    subnet_ids = ["subnet-0123456789abcdef0"]
  }
  expect_failures = [var.subnet_ids]
}

run "expires_too_long" {
  command = plan
  variables {
    presign_expires = 604801
  }
  expect_failures = [var.presign_expires]
}

run "desired_above_max" {
  command = plan
  variables {
    cpu_target_percent = 0
    desired_capacity   = 9
    max_size           = 4
  }
  expect_failures = [var.desired_capacity]
}

run "bad_package_url" {
  command = plan
  variables {
    presignd_package_url = "ftp://example.com/presignd_1.0.0-1_amd64.deb"
  }
  expect_failures = [var.presignd_package_url]
}

# The user-data installs a Debian package with apt; a `make dist` tarball
# would not install.
run "tarball_url_refused" {
  command = plan
  variables {
    presignd_package_url = "s3://presignd-artifacts/presignd-1.0.0.tar.gz"
  }
  expect_failures = [var.presignd_package_url]
}

# --- authentication, rate limits, WAF -----------------------------------------

run "plan_waf" {
  command = plan

  variables {
    waf_rate_limit = 500
  }

  assert {
    condition     = length(aws_wafv2_web_acl.presignd) == 1 && aws_wafv2_web_acl.presignd[0].scope == "REGIONAL" && length(aws_wafv2_web_acl.presignd[0].default_action[0].allow) == 1
    error_message = "With waf_rate_limit, one regional web ACL that lets everything else through."
  }

  assert {
    condition     = length(aws_wafv2_web_acl.presignd[0].rule) == 1
    error_message = "The web ACL has exactly one rule."
  }

  assert {
    condition     = one(aws_wafv2_web_acl.presignd[0].rule).statement[0].rate_based_statement[0].limit == 500 && one(aws_wafv2_web_acl.presignd[0].rule).statement[0].rate_based_statement[0].aggregate_key_type == "IP" && one(aws_wafv2_web_acl.presignd[0].rule).statement[0].rate_based_statement[0].evaluation_window_sec == 300
    error_message = "The rule limits each client IP (not a forwarded header) to waf_rate_limit requests per 5 minutes."
  }

  assert {
    condition     = one(one(aws_wafv2_web_acl.presignd[0].rule).action[0].block).custom_response[0].response_code == 429 && length(one(aws_wafv2_web_acl.presignd[0].rule).action[0].allow) == 0 && length(one(aws_wafv2_web_acl.presignd[0].rule).action[0].count) == 0
    error_message = "Over the limit, the rule blocks with 429."
  }

  assert {
    condition     = jsondecode(one(aws_wafv2_web_acl.presignd[0].custom_response_body).content).error_code == "rate_limited"
    error_message = "WAF's 429 has presignd's error shape (error_code rate_limited)."
  }

  assert {
    condition     = one(aws_wafv2_web_acl.presignd[0].rule).visibility_config[0].cloudwatch_metrics_enabled && aws_wafv2_web_acl.presignd[0].visibility_config[0].cloudwatch_metrics_enabled
    error_message = "The web ACL and its rule publish CloudWatch metrics."
  }

  assert {
    condition     = length(aws_wafv2_web_acl_association.presignd) == 1
    error_message = "The web ACL is associated with the load balancer."
  }
}

# AWS's lowest limit: the provider takes it.
run "plan_waf_lowest_limit" {
  command = plan

  variables {
    waf_rate_limit = 10
  }

  assert {
    condition     = one(aws_wafv2_web_acl.presignd[0].rule).statement[0].rate_based_statement[0].limit == 10
    error_message = "waf_rate_limit = 10 is AWS's lowest limit and must plan."
  }
}

run "plan_api_keys" {
  command = plan

  variables {
    auth_mode = "api_key"
    api_keys = [
      { name = "alice", sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", prefix = "alice/", permissions = ["upload", "download"] },
      { name = "reporting", sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", permissions = ["list"] },
    ]
    rate_limit_requests_per_second = 0.5
    rate_limit_burst               = 5
    audit_log                      = true
  }

  assert {
    condition = jsondecode(regex("\n  mode: \"api_key\"\n  # [^\n]*\n  api_keys: ([^\n]*)\n", local.instance_config)[0]) == [
      { name = "alice", sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", prefix = "alice/", permissions = ["upload", "download"] },
      { name = "reporting", sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", prefix = "", permissions = ["list"] },
    ]
    error_message = "The keys are written into auth.api_keys."
  }

  assert {
    condition     = strcontains(local.instance_config, "  requests_per_second: 0.5\n  burst: 5\n")
    error_message = "The rate limit variables are written into rate_limit."
  }

  assert {
    condition     = strcontains(local.instance_config, "\naudit:\n  log_file: \"/var/log/presignd/audit.log\"\n") && !strcontains(local.instance_config, "__PRESIGND_API_KEYS_FROM_SSM__")
    error_message = "audit_log = true writes the audit log in the unit's LogsDirectory; keys from the variable leave no SSM marker."
  }

  assert {
    condition     = length(aws_iam_role_policy.ssm_api_keys) == 0
    error_message = "Keys from the variable need no SSM rights."
  }

  assert {
    condition     = aws_lb_target_group.presignd.health_check[0].path == "/health" && aws_lb_target_group.presignd.health_check[0].matcher == "200"
    error_message = "With API keys, the load balancer still checks the bare GET /health."
  }
}

run "plan_api_keys_from_ssm" {
  command = plan

  variables {
    auth_mode              = "api_key"
    api_keys_ssm_parameter = "/presignd/api-keys"
  }

  assert {
    condition     = length(aws_iam_role_policy.ssm_api_keys) == 1
    error_message = "With api_keys_ssm_parameter, the role gets a policy to read it."
  }

  assert {
    condition = jsondecode(data.aws_iam_policy_document.ssm_api_keys[0].json) == {
      Version = "2012-10-17"
      Statement = [{
        Sid      = "ReadApiKeysParameter"
        Effect   = "Allow"
        Action   = "ssm:GetParameter"
        Resource = "arn:aws:ssm:eu-west-1:123456789012:parameter/presignd/api-keys"
      }]
    }
    error_message = "The role may call ssm:GetParameter on exactly that parameter, nothing else."
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.presignd.user_data), "\n  api_keys: __PRESIGND_API_KEYS_FROM_SSM__\n") && strcontains(base64decode(aws_launch_template.presignd.user_data), "API_KEYS_SSM_PARAMETER=\"/presignd/api-keys\"\n")
    error_message = "The config carries the marker and the user-data the parameter name it fills it from."
  }
}

run "plan_jwt" {
  command = plan

  variables {
    auth_mode      = "jwt"
    jwt_jwks_url   = "https://idp.example.com/.well-known/jwks.json"
    jwt_issuer     = "https://idp.example.com/"
    jwt_audience   = "presignd"
    jwt_algorithms = ["ES256"]
    jwt_leeway     = 30
  }

  assert {
    condition     = strcontains(local.instance_config, "  mode: \"jwt\"\n  jwt:\n    jwks_url: \"https://idp.example.com/.well-known/jwks.json\"\n    issuer: \"https://idp.example.com/\"\n    audience: \"presignd\"\n    algorithms: [\"ES256\"]\n    leeway: 30\n    prefix: \"users/{sub}/\"\n    permissions_claim: \"scope\"\n")
    error_message = "The JWT variables are written into auth.jwt."
  }

  assert {
    condition     = aws_lb_target_group.presignd.health_check[0].path == "/health" && aws_lb_target_group.presignd.health_check[0].matcher == "200"
    error_message = "With JWTs, the load balancer still checks the bare GET /health."
  }
}

run "auth_mode_unknown" {
  command = plan
  variables {
    auth_mode = "basic"
  }
  expect_failures = [var.auth_mode]
}

run "api_key_mode_without_keys" {
  command = plan
  variables {
    auth_mode = "api_key"
  }
  expect_failures = [var.api_keys]
}

run "api_keys_without_api_key_mode" {
  command = plan
  variables {
    api_keys = [{ name = "alice", sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", permissions = ["upload"] }]
  }
  expect_failures = [var.api_keys]
}

run "api_key_bad_hash" {
  command = plan
  variables {
    auth_mode = "api_key"
    api_keys  = [{ name = "alice", sha256 = "not-a-hash", permissions = ["upload"] }]
  }
  expect_failures = [var.api_keys]
}

run "api_key_bad_permission" {
  command = plan
  variables {
    auth_mode = "api_key"
    api_keys  = [{ name = "alice", sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", permissions = ["upload", "admin"] }]
  }
  expect_failures = [var.api_keys]
}

run "api_key_prefix_without_slash" {
  command = plan
  variables {
    auth_mode = "api_key"
    api_keys  = [{ name = "alice", sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", prefix = "alice", permissions = ["upload"] }]
  }
  expect_failures = [var.api_keys]
}

run "api_key_prefix_dotdot" {
  command = plan
  variables {
    auth_mode = "api_key"
    api_keys  = [{ name = "alice", sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", prefix = "alice/../", permissions = ["upload"] }]
  }
  expect_failures = [var.api_keys]
}

run "api_keys_twice" {
  command = plan
  variables {
    auth_mode = "api_key"
    api_keys = [
      { name = "alice", sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", permissions = ["upload"] },
      { name = "alice", sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", permissions = ["list"] },
    ]
  }
  expect_failures = [var.api_keys]
}

run "api_keys_from_variable_and_ssm" {
  command = plan
  variables {
    auth_mode              = "api_key"
    api_keys               = [{ name = "alice", sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", permissions = ["upload"] }]
    api_keys_ssm_parameter = "/presignd/api-keys"
  }
  expect_failures = [var.api_keys]
}

run "ssm_parameter_bad_name" {
  command = plan
  variables {
    auth_mode              = "api_key"
    api_keys_ssm_parameter = "presignd api keys"
  }
  expect_failures = [var.api_keys_ssm_parameter]
}

run "ssm_parameter_without_api_key_mode" {
  command = plan
  variables {
    api_keys_ssm_parameter = "/presignd/api-keys"
  }
  expect_failures = [var.api_keys_ssm_parameter]
}

run "jwt_http_jwks_url" {
  command = plan
  variables {
    auth_mode    = "jwt"
    jwt_jwks_url = "http://idp.example.com/.well-known/jwks.json"
    jwt_issuer   = "https://idp.example.com/"
    jwt_audience = "presignd"
  }
  expect_failures = [var.jwt_jwks_url]
}

run "jwt_without_issuer" {
  command = plan
  variables {
    auth_mode    = "jwt"
    jwt_jwks_url = "https://idp.example.com/.well-known/jwks.json"
    jwt_audience = "presignd"
  }
  expect_failures = [var.jwt_issuer]
}

run "jwt_hs256" {
  command = plan
  variables {
    jwt_algorithms = ["RS256", "HS256"]
  }
  expect_failures = [var.jwt_algorithms]
}

run "jwt_prefix_bad_claim" {
  command = plan
  variables {
    jwt_prefix = "users/{sub-id}/"
  }
  expect_failures = [var.jwt_prefix]
}

run "rate_limit_negative" {
  command = plan
  variables {
    rate_limit_requests_per_second = -1
  }
  expect_failures = [var.rate_limit_requests_per_second]
}

run "rate_limit_burst_zero" {
  command = plan
  variables {
    rate_limit_burst = 0
  }
  expect_failures = [var.rate_limit_burst]
}

# AWS's lowest rate-based limit is 10 requests per 5 minutes.
run "waf_rate_limit_too_low" {
  command = plan
  variables {
    waf_rate_limit = 5
  }
  expect_failures = [var.waf_rate_limit]
}
