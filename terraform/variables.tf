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
