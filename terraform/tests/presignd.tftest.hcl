# `terraform test` for this configuration: plans it with the real AWS
# provider but no AWS account (fake keys, every remote check skipped, the
# AMI lookup overridden), then checks what would be built, including the
# exact IAM policy the provider renders against aws/iam-policy.json, and
# that bad variable values are refused. Needs the hashicorp/aws provider
# installed (terraform init); tests/integration/test_terraform.py runs it
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

  assert {
    condition     = aws_lb_target_group.presignd.health_check[0].path == "/health" && aws_lb_target_group.presignd.port == 8000
    error_message = "The target group must check /health on port 8000."
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.presignd.user_data), "listen: \"0.0.0.0:8000\"")
    error_message = "The user-data must write a config listening on 0.0.0.0:8000."
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
