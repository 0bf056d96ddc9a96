# The instance role presignd runs with. presignd signs URLs with the role's
# temporary credentials (fetched from IMDSv2), so the role's policy is also
# the ceiling of what any presigned URL can do: exactly the calls presignd
# makes, and only under the upload prefix. aws/iam-policy.json is the same
# policy for setups made with the aws CLI; the tests check they agree.

locals {
  # Built from the name rather than aws_s3_bucket.files.arn: the policy then
  # renders at plan time (reviewable in `terraform plan`, checkable by
  # `terraform test`), and IAM does not need the bucket to exist first.
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}"
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    sid     = "EC2AssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "presignd" {
  # Presigned PUT (upload) and GET (download) URLs are only as good as the
  # signer's rights; DeleteObject is DELETE /files/{key}; GetObject also
  # covers HeadObject (the existence check before a download URL).
  statement {
    sid    = "ObjectsUnderUploadPrefix"
    effect = "Allow"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:DeleteObject",
    ]
    # Keys presignd creates, downloads and deletes: PREFIX + uuid + "-" + name.
    resources = ["${local.bucket_arn}/${var.upload_prefix}*"]
  }

  # GET /files is ListObjectsV2 with prefix=PREFIX... : allowed only when the
  # request names a prefix inside the upload prefix.
  statement {
    sid       = "ListUnderUploadPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.upload_prefix}*"]
    }
  }

  # GET /health is HeadBucket, which S3 authorizes as s3:ListBucket. A
  # HeadBucket request has no s3:prefix key at all, and a condition on a key
  # that is absent is false: the StringLike statement above can never allow
  # it. This statement allows s3:ListBucket exactly when the request carries
  # no s3:prefix (the Null test), as HeadBucket does. It is also what lets
  # S3 answer 404 rather than 403 for a missing object (it says "not found"
  # only to callers allowed to list the bucket), which presignd's 404 on
  # POST /download-url relies on. It is the
  # same as writing StringLikeIfExists above, spelled out so the reason
  # stays visible. The price, which no IAM policy can avoid because both are
  # the same action: a ListObjects request with no prefix parameter also has
  # no s3:prefix key, so the role can list the bucket's key names (not read
  # the objects). Keep the bucket for presignd's uploads only.
  statement {
    sid       = "HeadBucketForHealthCheck"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "Null"
      variable = "s3:prefix"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role" "presignd" {
  name               = "${var.name}-instance"
  description        = "presignd instances: presign, list and delete under s3://${var.bucket_name}/${var.upload_prefix}"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

resource "aws_iam_role_policy" "presignd" {
  name   = "${var.name}-s3-upload-prefix"
  role   = aws_iam_role.presignd.id
  policy = data.aws_iam_policy_document.presignd.json
}

resource "aws_iam_instance_profile" "presignd" {
  name = "${var.name}-instance"
  role = aws_iam_role.presignd.name
}

# Installing: the user-data fetches the `make deb` package with the role's
# credentials when it lives on S3. Read access to that one object, nothing
# else; a separate policy so the presignd policy above stays exactly what
# the daemon needs.
locals {
  package_on_s3 = startswith(var.presignd_package_url, "s3://")
  # s3://BUCKET/KEY -> arn:aws:s3:::BUCKET/KEY
  package_arn = local.package_on_s3 ? "arn:${data.aws_partition.current.partition}:s3:::${trimprefix(var.presignd_package_url, "s3://")}" : ""
}

data "aws_iam_policy_document" "package" {
  count = local.package_on_s3 ? 1 : 0

  statement {
    sid       = "ReadPresigndPackage"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [local.package_arn]
  }
}

resource "aws_iam_role_policy" "package" {
  count  = local.package_on_s3 ? 1 : 0
  name   = "${var.name}-read-package"
  role   = aws_iam_role.presignd.id
  policy = data.aws_iam_policy_document.package[0].json
}

# With SSE-KMS, S3 encrypts and decrypts with the key on behalf of whoever
# signed the request: the role that signs the presigned URLs needs the key
# (the key policy must also let IAM policies grant it, as the default key
# policy does). Only that key, only through S3 in this region.
data "aws_iam_policy_document" "kms" {
  count = var.kms_key_arn == "" ? 0 : 1

  statement {
    sid       = "UseBucketKeyThroughS3"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "kms" {
  count  = var.kms_key_arn == "" ? 0 : 1
  name   = "${var.name}-bucket-kms-key"
  role   = aws_iam_role.presignd.id
  policy = data.aws_iam_policy_document.kms[0].json
}

# API keys from SSM Parameter Store (api_keys_ssm_parameter): the
# user-data reads that one parameter at boot, GetParameter only (no
# GetParameters by path, no writing). A SecureString encrypted with the
# account's default aws/ssm key needs nothing more (that key's policy lets
# the account's principals decrypt through SSM); one encrypted with a
# customer managed key would also need kms:Decrypt on it: the hashes are not
# secrets, so a String parameter is simpler.
locals {
  api_keys_from_ssm = var.api_keys_ssm_parameter != ""
  # "/presignd/api-keys" -> arn:aws:ssm:REGION:ACCOUNT:parameter/presignd/api-keys
  api_keys_parameter_arn = local.api_keys_from_ssm ? join(":", [
    "arn", data.aws_partition.current.partition, "ssm", var.region,
    data.aws_caller_identity.current[0].account_id,
    "parameter/${trimprefix(var.api_keys_ssm_parameter, "/")}",
  ]) : ""
}

data "aws_caller_identity" "current" {
  count = local.api_keys_from_ssm ? 1 : 0
}

data "aws_iam_policy_document" "ssm_api_keys" {
  count = local.api_keys_from_ssm ? 1 : 0

  statement {
    sid       = "ReadApiKeysParameter"
    effect    = "Allow"
    actions   = ["ssm:GetParameter"]
    resources = [local.api_keys_parameter_arn]
  }
}

resource "aws_iam_role_policy" "ssm_api_keys" {
  count  = local.api_keys_from_ssm ? 1 : 0
  name   = "${var.name}-read-api-keys"
  role   = aws_iam_role.presignd.id
  policy = data.aws_iam_policy_document.ssm_api_keys[0].json
}

# Optional shell access through Systems Manager Session Manager, so the
# instances need no SSH port and no key pair.
resource "aws_iam_role_policy_attachment" "ssm" {
  count      = var.enable_ssm ? 1 : 0
  role       = aws_iam_role.presignd.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_partition" "current" {}
