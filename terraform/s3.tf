# The bucket the files live in. It is private: nobody reads or writes it
# except through presigned URLs, which are signed by the instance role
# (iam.tf). Browsers upload to it directly, so it carries CORS rules for the
# web origins that use presignd.

resource "aws_s3_bucket" "files" {
  bucket        = var.bucket_name
  force_destroy = var.bucket_force_destroy
}

# No public access whatever a future ACL or bucket policy says.
resource "aws_s3_bucket_public_access_block" "files" {
  bucket = aws_s3_bucket.files.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs off: the bucket owner owns every object, whoever uploaded it, and
# access is decided by IAM alone.
resource "aws_s3_bucket_ownership_controls" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == "" ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn == "" ? null : var.kms_key_arn
    }
    # With SSE-KMS, one data key per bucket instead of one KMS call per object.
    bucket_key_enabled = var.kms_key_arn != ""
  }
}

# Only managed when wanted: a bucket that never had versioning stays plain;
# removing the resource later (bucket_versioning = false) suspends it.
resource "aws_s3_bucket_versioning" "files" {
  count  = var.bucket_versioning ? 1 : 0
  bucket = aws_s3_bucket.files.id

  versioning_configuration {
    status = "Enabled"
  }
}

# Browsers PUT the file to the presigned URL (or POST a form) and GET it
# back, from the pages of the listed origins; with Uppy 6's signRequest they
# also create, list, complete (POST, GET) and abort (DELETE) multipart
# uploads at S3 directly. They must be allowed to send
# every header presignd signs (Content-Type, Content-Length, If-None-Match,
# Content-MD5, x-amz-checksum-sha256, x-amz-sdk-checksum-algorithm) and to
# read ETag (what S3 stored; multipart uploads need each part's) and
# Location (where a form upload went). aws/bucket-cors.json is the same rule.
resource "aws_s3_bucket_cors_configuration" "files" {
  bucket = aws_s3_bucket.files.id

  cors_rule {
    allowed_methods = ["PUT", "POST", "GET", "HEAD", "DELETE"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["Content-Type", "Content-Length", "Content-MD5", "If-None-Match", "x-amz-*"]
    expose_headers  = ["ETag", "Location"]
    max_age_seconds = var.cors_max_age_seconds
  }
}

# Uploads that never completed leave parts behind that are billed forever.
resource "aws_s3_bucket_lifecycle_configuration" "files" {
  bucket = aws_s3_bucket.files.id

  # Lifecycle rules on noncurrent versions need versioning in place first.
  depends_on = [aws_s3_bucket_versioning.files]

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # With versioning, a deleted file's old version would otherwise be kept
  # (and billed) forever.
  dynamic "rule" {
    for_each = var.bucket_versioning ? [1] : []
    content {
      id     = "expire-noncurrent-versions"
      status = "Enabled"

      filter {}

      noncurrent_version_expiration {
        noncurrent_days = 30
      }
    }
  }
}
