# Inputs of the presignd deployment. Every variable says what it is for; the
# ones whose wrong value would only show up at apply time (or worse, at run
# time) are validated here.

# --- where and what -----------------------------------------------------------

variable "region" {
  description = "AWS region for every resource (and the region presignd signs its URLs for)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "The region must look like \"us-east-1\" or \"eu-central-1\"."
  }
}

variable "name" {
  description = "Name of this deployment; prefixes the names of the IAM role, security groups, load balancer, target group and autoscaling group."
  type        = string
  default     = "presignd"

  validation {
    # The ALB and target group names are limited to 32 characters and the
    # longest suffix used is "-tg" / "-alb".
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,27}$", var.name))
    error_message = "The name must start with a letter, contain only letters, digits and hyphens, and be at most 28 characters long."
  }
}

variable "tags" {
  description = "Extra tags put on every resource."
  type        = map(string)
  default     = {}
}

# --- the bucket -----------------------------------------------------------------

variable "bucket_name" {
  description = "Name of the S3 bucket presignd hands out URLs for. It is created by this configuration and must be globally unique."
  type        = string

  validation {
    condition = (
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) &&
      !can(regex("\\.\\.", var.bucket_name)) &&
      !can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", var.bucket_name)) &&
      !startswith(var.bucket_name, "xn--") &&
      !endswith(var.bucket_name, "-s3alias")
    )
    error_message = "The bucket name must be 3-63 characters of lower-case letters, digits, dots and hyphens, start and end with a letter or digit, and not look like an IP address."
  }
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the bucket even when it still holds objects. Leave false in production."
  type        = bool
  default     = false
}

variable "bucket_versioning" {
  description = "Keep every version of every object (S3 versioning). Deleted files can then be recovered, at the cost of storage."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "ARN of a KMS key for server-side encryption (SSE-KMS). Empty: SSE-S3 (AES256). With a key, the instance role is granted kms:GenerateDataKey and kms:Decrypt on it (through S3 only); the key policy must allow IAM policies to grant that, as the default key policy does."
  type        = string
  default     = ""

  validation {
    condition     = var.kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "The KMS key must be empty or a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "upload_prefix" {
  description = "Key prefix for uploads (presignd's uploads.prefix). The instance role may only touch keys under it."
  type        = string
  default     = "uploads/"

  validation {
    condition     = endswith(var.upload_prefix, "/") && !startswith(var.upload_prefix, "/") && length(var.upload_prefix) > 1 && !can(regex("[*?\"\\\\]", var.upload_prefix))
    error_message = "The upload prefix must end with \"/\", must not start with \"/\", and must not contain *, ?, \" or backslash (they would change the meaning of the IAM policy)."
  }
}

variable "cors_allowed_origins" {
  description = "Web origins (scheme://host[:port]) whose pages may upload to and download from the bucket directly. Used for the bucket's CORS rules and presignd's cors.allow_origins."
  type        = list(string)

  validation {
    condition     = length(var.cors_allowed_origins) > 0
    error_message = "List at least one origin: browsers send the file bytes straight to S3, which refuses cross-origin requests without CORS rules."
  }

  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : o == "*" || can(regex("^https?://[^/]+$", o))])
    error_message = "Each origin must be \"*\" or scheme://host[:port] with no path (e.g. \"https://app.example.com\")."
  }
}

variable "cors_max_age_seconds" {
  description = "How long browsers may cache a CORS preflight answer (bucket CORS MaxAgeSeconds and presignd's cors.max_age)."
  type        = number
  default     = 3000

  validation {
    condition     = var.cors_max_age_seconds >= 0 && var.cors_max_age_seconds <= 86400 && floor(var.cors_max_age_seconds) == var.cors_max_age_seconds
    error_message = "The CORS max age must be a whole number of seconds between 0 and 86400."
  }
}

# --- presignd ---------------------------------------------------------------------

variable "presignd_package_url" {
  description = "Where instances fetch presignd from: the Debian package `make deb` builds (build/presignd_VERSION-1_ARCH.deb, for the AMI's release and architecture), as s3://BUCKET/KEY (read with the instance role, which gets s3:GetObject on that one object) or an https:// URL. apt installs it with the libraries it depends on."
  type        = string

  validation {
    condition     = can(regex("^(s3://[a-z0-9][a-z0-9.-]+[a-z0-9]/.+|https://.+)\\.deb$", var.presignd_package_url))
    error_message = "The package URL must be s3://BUCKET/KEY.deb or https://.../NAME.deb."
  }
}

variable "presignd_package_sha256" {
  description = "SHA-256 of the package (hex). When set, instances refuse a package that does not match. Recommended."
  type        = string
  default     = ""

  validation {
    condition     = var.presignd_package_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.presignd_package_sha256))
    error_message = "The SHA-256 must be empty or 64 lower-case hex digits."
  }
}

variable "presign_expires" {
  description = "Seconds a presigned URL stays valid (presign.expires). presignd also never gives a URL longer than the instance credentials live."
  type        = number
  default     = 600

  validation {
    condition     = var.presign_expires >= 1 && var.presign_expires <= 604800 && floor(var.presign_expires) == var.presign_expires
    error_message = "presign_expires must be a whole number of seconds from 1 to 604800 (7 days, the SigV4 maximum)."
  }
}

variable "max_file_size" {
  description = "Largest upload in bytes (presign.max_file_size)."
  type        = number
  default     = 52428800

  validation {
    # A single PUT to S3 is limited to 5 GiB.
    condition     = var.max_file_size >= 1 && var.max_file_size <= 5368709120 && floor(var.max_file_size) == var.max_file_size
    error_message = "max_file_size must be a whole number of bytes from 1 to 5368709120 (5 GiB, the S3 single-PUT limit)."
  }
}

variable "allowed_types" {
  description = "File extensions that may be uploaded and the Content-Type each is stored with (uploads.allowed_types)."
  type        = map(string)
  default = {
    ".jpg"  = "image/jpeg"
    ".jpeg" = "image/jpeg"
    ".png"  = "image/png"
    ".gif"  = "image/gif"
    ".pdf"  = "application/pdf"
    ".txt"  = "text/plain"
    ".csv"  = "text/csv"
    ".zip"  = "application/zip"
  }

  validation {
    condition     = length(var.allowed_types) > 0
    error_message = "Allow at least one file type."
  }

  validation {
    condition     = alltrue([for ext, t in var.allowed_types : can(regex("^\\.[A-Za-z0-9]+$", ext)) && can(regex("^[a-z]+/[A-Za-z0-9.+-]+$", t))])
    error_message = "Keys must be extensions with a leading dot (\".pdf\") and values content types (\"application/pdf\")."
  }
}

variable "workers" {
  description = "presignd worker processes per instance (server.workers): a number, or \"auto\" for one per CPU."
  type        = string
  default     = "auto"

  validation {
    condition     = var.workers == "auto" || can(regex("^[1-9][0-9]*$", var.workers))
    error_message = "workers must be \"auto\" or a positive whole number."
  }
}

variable "shutdown_timeout" {
  description = "Seconds presignd drains in-flight requests on stop or reload (server.shutdown_timeout). The load balancer's deregistration delay is set to the same value."
  type        = number
  default     = 30

  validation {
    condition     = var.shutdown_timeout >= 0 && var.shutdown_timeout <= 3600 && floor(var.shutdown_timeout) == var.shutdown_timeout
    error_message = "shutdown_timeout must be a whole number of seconds from 0 to 3600."
  }
}

# --- authentication, rate limits, audit -------------------------------------------
# presignd's auth:, rate_limit: and audit: sections (see README, "Authentication
# and limits"). /health, and so the load balancer's health check, never needs
# credentials whatever is chosen here.

variable "auth_mode" {
  description = "Who may ask presignd for URLs (auth.mode): \"none\" (anyone who reaches the load balancer; presignd warns at start), \"api_key\" (Authorization: Bearer KEY, the keys' SHA-256 from api_keys or api_keys_ssm_parameter) or \"jwt\" (tokens from an identity provider, see jwt_*)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "api_key", "jwt"], var.auth_mode)
    error_message = "auth_mode must be \"none\", \"api_key\" or \"jwt\"."
  }
}

variable "api_keys" {
  description = "With auth_mode = \"api_key\": the keys (auth.api_keys), each {name (the principal), sha256 (of the key, 64 hex digits: printf %s KEY | sha256sum), prefix (appended to upload_prefix; \"\" for all of it, else ending with \"/\"), permissions (of upload, download, list, delete)}. The keys themselves never go anywhere. Leave empty when api_keys_ssm_parameter gives them."
  type = list(object({
    name        = string
    sha256      = string
    prefix      = optional(string, "")
    permissions = list(string)
  }))
  default = []

  validation {
    condition     = alltrue([for k in var.api_keys : can(regex("^[A-Za-z0-9._@-]{1,64}$", k.name))])
    error_message = "Each api_keys name must be 1 to 64 letters, digits, '.', '_', '@' or '-'."
  }

  validation {
    condition     = alltrue([for k in var.api_keys : can(regex("^[0-9A-Fa-f]{64}$", k.sha256))])
    error_message = "Each api_keys sha256 must be the SHA-256 of the key as 64 hex digits (printf %s KEY | sha256sum), never the key itself."
  }

  validation {
    condition = alltrue([for k in var.api_keys : k.prefix == "" || (
      length(k.prefix) <= 256 &&
      can(regex("^([^/\\\\{}[:cntrl:]]+/)+$", k.prefix)) &&
      !can(regex("(^|/)\\.\\.?/", k.prefix))
    )])
    error_message = "Each api_keys prefix must be \"\" or path segments ending with \"/\" (\"alice/\"), with no leading \"/\", empty, \".\" or \"..\" segment, backslash, brace or control character."
  }

  validation {
    condition = alltrue([for k in var.api_keys :
      length(k.permissions) > 0 && length(distinct(k.permissions)) == length(k.permissions) &&
    alltrue([for p in k.permissions : contains(["upload", "download", "list", "delete"], p)])])
    error_message = "Each api_keys entry needs permissions from upload, download, list and delete, each at most once."
  }

  validation {
    condition = (
      length(distinct([for k in var.api_keys : k.name])) == length(var.api_keys) &&
      length(distinct([for k in var.api_keys : lower(k.sha256)])) == length(var.api_keys)
    )
    error_message = "Two api_keys entries have the same name or the same sha256."
  }

  # Keys without auth_mode = "api_key" would be ignored and leave the
  # service open: refuse them rather than guess.
  validation {
    condition     = length(var.api_keys) == 0 || var.auth_mode == "api_key"
    error_message = "api_keys are only used with auth_mode = \"api_key\": set it, or remove the keys."
  }

  validation {
    condition     = var.auth_mode != "api_key" || length(var.api_keys) > 0 || var.api_keys_ssm_parameter != ""
    error_message = "auth_mode = \"api_key\" needs api_keys or api_keys_ssm_parameter."
  }

  validation {
    condition     = var.api_keys_ssm_parameter == "" || length(var.api_keys) == 0
    error_message = "Give the keys in api_keys or in api_keys_ssm_parameter, not both."
  }
}

variable "api_keys_ssm_parameter" {
  description = "With auth_mode = \"api_key\": name of an SSM Parameter Store parameter (in region) whose value is the api_keys list as JSON ([{\"name\": ..., \"sha256\": ..., \"prefix\": ..., \"permissions\": [...]}]). Instances read it at boot with their role (which gets ssm:GetParameter on that parameter only), so keys change with `aws ssm put-parameter` and an instance refresh, without a Terraform apply. Empty: the keys come from api_keys."
  type        = string
  default     = ""

  validation {
    condition = var.api_keys_ssm_parameter == "" || (
      length(var.api_keys_ssm_parameter) <= 1011 &&
      can(regex("^(/?[A-Za-z0-9_.-]+)(/[A-Za-z0-9_.-]+)*$", var.api_keys_ssm_parameter)) &&
      !can(regex("^/?(?i:aws|ssm)", var.api_keys_ssm_parameter))
    )
    error_message = "api_keys_ssm_parameter must be empty or a parameter name such as \"/presignd/api-keys\" (letters, digits, _ . - and / between levels; not starting with aws or ssm)."
  }

  validation {
    condition     = var.api_keys_ssm_parameter == "" || var.auth_mode == "api_key"
    error_message = "api_keys_ssm_parameter is only used with auth_mode = \"api_key\": set it, or leave the parameter empty."
  }
}

variable "jwt_jwks_url" {
  description = "With auth_mode = \"jwt\": the identity provider's JSON Web Key Set (auth.jwt.jwks_url), https:// only, e.g. \"https://idp.example.com/.well-known/jwks.json\". Instances fetch it, so it must be reachable from them."
  type        = string
  default     = ""

  validation {
    condition     = var.jwt_jwks_url == "" || can(regex("^https://[^/?#[:space:]]+(/[^[:space:]]*)?$", var.jwt_jwks_url))
    error_message = "jwt_jwks_url must be an https:// URL: the keys that decide who gets in must not travel in the clear."
  }

  validation {
    condition     = var.auth_mode != "jwt" || var.jwt_jwks_url != ""
    error_message = "auth_mode = \"jwt\" needs jwt_jwks_url."
  }

  validation {
    condition     = var.jwt_jwks_url == "" || var.auth_mode == "jwt"
    error_message = "jwt_jwks_url is only used with auth_mode = \"jwt\": set it, or leave the URL empty."
  }
}

variable "jwt_issuer" {
  description = "With auth_mode = \"jwt\": the iss every token must carry, exactly (auth.jwt.issuer), e.g. \"https://idp.example.com/\"."
  type        = string
  default     = ""

  validation {
    condition     = !can(regex("[[:cntrl:]]", var.jwt_issuer)) && length(var.jwt_issuer) <= 1024
    error_message = "jwt_issuer must be at most 1024 characters with no control characters."
  }

  validation {
    condition     = var.auth_mode != "jwt" || var.jwt_issuer != ""
    error_message = "auth_mode = \"jwt\" needs jwt_issuer."
  }
}

variable "jwt_audience" {
  description = "With auth_mode = \"jwt\": the aud every token must be for (or hold), exactly (auth.jwt.audience), e.g. \"presignd\"."
  type        = string
  default     = ""

  validation {
    condition     = !can(regex("[[:cntrl:]]", var.jwt_audience)) && length(var.jwt_audience) <= 1024
    error_message = "jwt_audience must be at most 1024 characters with no control characters."
  }

  validation {
    condition     = var.auth_mode != "jwt" || var.jwt_audience != ""
    error_message = "auth_mode = \"jwt\" needs jwt_audience."
  }
}

variable "jwt_algorithms" {
  description = "Signature algorithms accepted (auth.jwt.algorithms): RS256 and/or ES256. Never taken from the token."
  type        = list(string)
  default     = ["RS256", "ES256"]

  validation {
    condition     = length(var.jwt_algorithms) > 0 && length(distinct(var.jwt_algorithms)) == length(var.jwt_algorithms) && alltrue([for a in var.jwt_algorithms : contains(["RS256", "ES256"], a)])
    error_message = "jwt_algorithms must list RS256 and/or ES256, each at most once."
  }
}

variable "jwt_leeway" {
  description = "Seconds of clock skew allowed on a token's exp, nbf and iat (auth.jwt.leeway)."
  type        = number
  default     = 60

  validation {
    condition     = var.jwt_leeway >= 0 && var.jwt_leeway <= 3600 && floor(var.jwt_leeway) == var.jwt_leeway
    error_message = "jwt_leeway must be a whole number of seconds from 0 to 3600."
  }
}

variable "jwt_prefix" {
  description = "Each token's part of the bucket, appended to upload_prefix (auth.jwt.prefix): {claim} is replaced by that claim of the token. The default keeps every user to their own \"users/SUB/\"; \"\" gives every valid token all of upload_prefix."
  type        = string
  default     = "users/{sub}/"

  validation {
    condition = var.jwt_prefix == "" || (
      length(var.jwt_prefix) <= 256 &&
      can(regex("^((\\{[A-Za-z0-9_]{1,64}\\}|[^/\\\\{}[:cntrl:]])+/)+$", var.jwt_prefix)) &&
      !can(regex("(^|/)\\.\\.?/", var.jwt_prefix))
    )
    error_message = "jwt_prefix must be \"\" or path segments ending with \"/\", where {claim} names a claim (letters, digits, _), e.g. \"users/{sub}/\"; no leading \"/\", empty, \".\" or \"..\" segment, backslash or control character."
  }
}

variable "jwt_permissions_claim" {
  description = "The token claim that lists what it may do (auth.jwt.permissions_claim): a space-separated string or a list of upload, download, list, delete (each also as presignd:NAME)."
  type        = string
  default     = "scope"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,64}$", var.jwt_permissions_claim))
    error_message = "jwt_permissions_claim must be a claim name of 1 to 64 letters, digits or _."
  }
}

variable "rate_limit_requests_per_second" {
  description = "Requests per second each principal (each client address when auth_mode = \"none\") may make on each instance (rate_limit.requests_per_second), shared by its workers; beyond it 429 rate_limited. 0: off. The limit is per instance: for the whole fleet, see waf_rate_limit."
  type        = number
  default     = 0

  validation {
    condition     = var.rate_limit_requests_per_second >= 0 && var.rate_limit_requests_per_second < 10000000
    error_message = "rate_limit_requests_per_second must be 0 (off) or a positive number below 10000000 (0.5 is allowed)."
  }
}

variable "rate_limit_burst" {
  description = "Requests a principal may make at once above the steady rate (rate_limit.burst)."
  type        = number
  default     = 20

  validation {
    condition     = var.rate_limit_burst >= 1 && var.rate_limit_burst <= 1000000 && floor(var.rate_limit_burst) == var.rate_limit_burst
    error_message = "rate_limit_burst must be a whole number from 1 to 1000000."
  }
}

variable "audit_log" {
  description = "Write presignd's audit log (audit.log_file) to /var/log/presignd/audit.log on each instance: one JSON line (about 350 bytes) per decision to sign, list or delete, granted or refused, with the principal and client address, never a URL, token or key. Off by default: the file lives on the instance's root volume and goes with the instance when the group replaces it, so turn it on together with something that ships it (e.g. the CloudWatch agent). Rotated weekly by the package's logrotate."
  type        = bool
  default     = false
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes any one client IP address may send to the load balancer, counted over the whole fleet by an AWS WAF rate-based rule (blocked beyond it with 429 rate_limited). 0: no WAF web ACL at all. WAF is billed per web ACL, rule and request."
  type        = number
  default     = 0

  validation {
    # AWS's lowest rate-based limit is 10 (it used to be 100).
    condition     = var.waf_rate_limit == 0 || (var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000 && floor(var.waf_rate_limit) == var.waf_rate_limit)
    error_message = "waf_rate_limit must be 0 (off) or a whole number of requests per 5 minutes from 10 to 2000000000."
  }
}

# --- instances -------------------------------------------------------------------

variable "instance_type" {
  description = "EC2 instance type. presignd is small: a t3.small or t4g.small (with an arm64 package and AMI) serves thousands of requests per second."
  type        = string
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "The instance type must look like \"t3.small\"."
  }
}

variable "ami_id" {
  description = "AMI for the instances. Empty: the latest official Debian 12 AMI for the architecture of instance_type's family (see ami_architecture). The user-data expects Debian or Ubuntu (apt, systemd)."
  type        = string
  default     = ""

  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "The AMI id must be empty or look like \"ami-0123456789abcdef0\"."
  }
}

variable "ami_architecture" {
  description = "CPU architecture of the AMI looked up when ami_id is empty; must match the instance type and the package."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.ami_architecture)
    error_message = "ami_architecture must be \"x86_64\" or \"arm64\"."
  }
}

variable "root_volume_size" {
  description = "Root volume size in GiB (gp3, encrypted)."
  type        = number
  default     = 8

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 1024
    error_message = "root_volume_size must be between 8 and 1024 GiB."
  }
}

variable "min_size" {
  description = "Fewest instances the autoscaling group keeps running."
  type        = number
  default     = 2

  validation {
    condition     = var.min_size >= 0 && floor(var.min_size) == var.min_size
    error_message = "min_size must be a whole number >= 0."
  }
}

variable "max_size" {
  description = "Most instances the autoscaling group may run."
  type        = number
  default     = 4

  validation {
    condition     = var.max_size >= 1 && floor(var.max_size) == var.max_size && var.max_size >= var.min_size
    error_message = "max_size must be a whole number >= 1 and >= min_size."
  }
}

variable "desired_capacity" {
  description = "Instances to run, between min_size and max_size. Used only when cpu_target_percent = 0 (fixed size); with the CPU scaling policy on, the policy sets the number and the group starts at min_size."
  type        = number
  default     = 2

  validation {
    condition     = floor(var.desired_capacity) == var.desired_capacity && var.desired_capacity >= var.min_size && var.desired_capacity <= var.max_size
    error_message = "desired_capacity must be a whole number between min_size and max_size."
  }
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation the target-tracking scaling policy holds the group at. 0 disables the policy (fixed size)."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 0 && var.cpu_target_percent <= 100
    error_message = "cpu_target_percent must be between 0 (off) and 100."
  }
}

# --- network ---------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC the load balancer and instances live in."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "The VPC id must look like \"vpc-0123456789abcdef0\"."
  }
}

variable "subnet_ids" {
  description = "Subnets of the load balancer, in at least two availability zones (public subnets for an internet-facing load balancer)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An application load balancer needs at least two subnets in different availability zones."
  }

  validation {
    condition     = alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Each subnet id must look like \"subnet-0123456789abcdef0\"."
  }
}

variable "instance_subnet_ids" {
  description = "Subnets of the instances. Empty: the load balancer's subnets. Private subnets need a NAT gateway (or VPC endpoints) so instances reach apt, the package and S3."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.instance_subnet_ids) == 0 || length(var.instance_subnet_ids) >= 2
    error_message = "Give no instance subnets (use subnet_ids) or at least two, so the group spans availability zones."
  }

  validation {
    condition     = alltrue([for s in var.instance_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Each subnet id must look like \"subnet-0123456789abcdef0\"."
  }
}

variable "associate_public_ip" {
  description = "Give instances a public IP address (needed in public subnets without a NAT gateway to reach apt and the package). They stay unreachable from outside: their security group admits only the load balancer."
  type        = bool
  default     = true
}

variable "internal" {
  description = "Make the load balancer internal (reachable only inside the VPC) instead of internet-facing."
  type        = bool
  default     = false
}

variable "allowed_cidrs" {
  description = "Client address ranges allowed to reach the load balancer on ports 80 and 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.allowed_cidrs) > 0 && alltrue([for c in var.allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_cidrs must be a non-empty list of CIDR blocks such as \"203.0.113.0/24\"."
  }
}

variable "certificate_arn" {
  description = "ACM certificate ARN for an HTTPS listener on 443. Empty: HTTP only. With a certificate, port 80 redirects to HTTPS."
  type        = string
  default     = ""

  validation {
    condition     = var.certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "The certificate must be empty or an ACM certificate ARN."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "metrics_port" {
  description = "Port presignd serves /metrics on for Prometheus (server.metrics_listen), separate from the API so the load balancer never exposes it. 0: no separate port (then /metrics stays on 8000, which only the load balancer reaches, and the load balancer answers 404 for it)."
  type        = number
  default     = 9464

  validation {
    condition     = var.metrics_port == 0 || (var.metrics_port >= 1024 && var.metrics_port <= 65535 && var.metrics_port != 8000)
    error_message = "metrics_port must be 0 (off) or a port from 1024 to 65535 other than 8000."
  }
}

variable "metrics_source_security_group_ids" {
  description = "Security groups (e.g. Prometheus servers) allowed to scrape metrics_port on the instances. Empty: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for g in var.metrics_source_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", g))])
    error_message = "Each security group id must look like \"sg-0123456789abcdef0\"."
  }
}

variable "enable_ssm" {
  description = "Attach AmazonSSMManagedInstanceCore to the instance role, for shell access through Session Manager (no SSH port or key pair needed)."
  type        = bool
  default     = false
}
