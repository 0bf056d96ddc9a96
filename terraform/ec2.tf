# The instances and what sits in front of them: a launch template (IMDSv2
# only, the instance role, user-data that installs presignd), an autoscaling
# group over several subnets, and an application load balancer whose target
# group health-checks GET /health. Only the load balancer can reach the
# instances.

locals {
  api_port         = 8000
  instance_subnets = length(var.instance_subnet_ids) > 0 ? var.instance_subnet_ids : var.subnet_ids
  https            = var.certificate_arn != ""
  debian_ami_owner = "136693071363" # the Debian project's AWS account
  debian_ami_arch  = var.ami_architecture == "arm64" ? "arm64" : "amd64"
  # Plain variables only, as `make fleet` renders this same call itself
  # (tests/fleet/terraform.py reads var.X and literals, not expressions).
  presignd_config = templatefile("${path.module}/templates/presignd.yaml.tftpl", {
    port                   = local.api_port
    metrics_port           = var.metrics_port
    workers                = var.workers
    shutdown_timeout       = var.shutdown_timeout
    bucket                 = aws_s3_bucket.files.bucket
    region                 = var.region
    expires                = var.presign_expires
    max_file_size          = var.max_file_size
    prefix                 = var.upload_prefix
    allowed_types          = var.allowed_types
    cors_origins           = var.cors_allowed_origins
    cors_max_age           = var.cors_max_age_seconds
    auth_mode              = var.auth_mode
    api_keys               = var.api_keys
    api_keys_ssm_parameter = var.api_keys_ssm_parameter
    jwt_jwks_url           = var.jwt_jwks_url
    jwt_issuer             = var.jwt_issuer
    jwt_audience           = var.jwt_audience
    jwt_algorithms         = var.jwt_algorithms
    jwt_leeway             = var.jwt_leeway
    jwt_prefix             = var.jwt_prefix
    jwt_permissions_claim  = var.jwt_permissions_claim
    rate_limit_rps         = var.rate_limit_requests_per_second
    rate_limit_burst       = var.rate_limit_burst
    audit_log              = var.audit_log
  })

  # The load balancer's nodes connect to the instances from addresses in its
  # own subnets, and it appends the address it saw to X-Forwarded-For.
  # presignd believes that header only from these networks, so the rate
  # limits without auth, the logs and the audit log name the real client;
  # the instances' security group already admits nobody else. Narrower than
  # the VPC's CIDR: a client elsewhere in the VPC (with internal = true)
  # cannot pass for a proxy and pick its own address.
  trusted_proxies = sort(distinct([for s in data.aws_subnet.alb : s.cidr_block]))

  # What the instances get: the template's output with those networks in
  # its one "trusted_proxies: []" line (looked up here rather than passed
  # to the template, which `make fleet` renders from the variables alone).
  instance_config = replace(
    local.presignd_config,
    "\n  trusted_proxies: []\n",
    "\n  trusted_proxies: ${jsonencode(local.trusted_proxies)}\n",
  )
}

data "aws_subnet" "alb" {
  for_each = toset(var.subnet_ids)
  id       = each.value
}

# --- AMI ------------------------------------------------------------------------

data "aws_ami" "selected" {
  most_recent = true
  owners      = var.ami_id == "" ? [local.debian_ami_owner] : []

  dynamic "filter" {
    for_each = var.ami_id == "" ? [] : [var.ami_id]
    content {
      name   = "image-id"
      values = [filter.value]
    }
  }

  dynamic "filter" {
    for_each = var.ami_id == "" ? ["debian-12-${local.debian_ami_arch}-*"] : []
    content {
      name   = "name"
      values = [filter.value]
    }
  }

  filter {
    name   = "architecture"
    values = [var.ami_architecture]
  }
}

# --- security groups ------------------------------------------------------------

# name_prefix: with create_before_destroy, a replacement group is created
# before the old one is gone, so the two cannot share a name.
resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "presignd load balancer: HTTP/HTTPS from the allowed client ranges"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = can(cidrnetmask(each.value)) ? each.value : null
  cidr_ipv6         = can(cidrnetmask(each.value)) ? null : each.value
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = local.https ? toset(var.allowed_cidrs) : toset([])
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = can(cidrnetmask(each.value)) ? each.value : null
  cidr_ipv6         = can(cidrnetmask(each.value)) ? null : each.value
}

# The load balancer talks to the instances on the API port and nothing else.
resource "aws_vpc_security_group_egress_rule" "alb_to_instances" {
  security_group_id            = aws_security_group.alb.id
  description                  = "presignd API on the instances"
  ip_protocol                  = "tcp"
  from_port                    = local.api_port
  to_port                      = local.api_port
  referenced_security_group_id = aws_security_group.instance.id
}

resource "aws_security_group" "instance" {
  name_prefix = "${var.name}-instance-"
  description = "presignd instances: API port from the load balancer only"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

# The only way in to the API: from the load balancer's security group. No
# CIDR rule, no SSH (use Session Manager, see enable_ssm).
resource "aws_vpc_security_group_ingress_rule" "instance_api_from_alb" {
  security_group_id            = aws_security_group.instance.id
  description                  = "presignd API from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.api_port
  to_port                      = local.api_port
  referenced_security_group_id = aws_security_group.alb.id
}

# Prometheus, from the security groups named for it, on the metrics port only.
resource "aws_vpc_security_group_ingress_rule" "instance_metrics" {
  for_each                     = var.metrics_port > 0 ? toset(var.metrics_source_security_group_ids) : toset([])
  security_group_id            = aws_security_group.instance.id
  description                  = "presignd /metrics for Prometheus"
  ip_protocol                  = "tcp"
  from_port                    = var.metrics_port
  to_port                      = var.metrics_port
  referenced_security_group_id = each.value
}

# Out: HTTPS to S3 (and to the package), HTTP for apt mirrors. The metadata
# service, DNS and time service are link-local and not filtered by groups.
resource "aws_vpc_security_group_egress_rule" "instance_https" {
  security_group_id = aws_security_group.instance.id
  description       = "HTTPS: S3, the presignd package, apt"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "instance_http" {
  security_group_id = aws_security_group.instance.id
  description       = "HTTP: apt mirrors (packages are signed)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

# --- launch template ------------------------------------------------------------

resource "aws_launch_template" "presignd" {
  name_prefix            = "${var.name}-"
  description            = "presignd instances"
  image_id               = data.aws_ami.selected.id
  instance_type          = var.instance_type
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.presignd.arn
  }

  # IMDSv2 only (a session token is required), and a hop limit of 1 so the
  # token, and with it the role's credentials, cannot be fetched from a
  # container or anything else one network hop away.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  network_interfaces {
    associate_public_ip_address = var.associate_public_ip
    security_groups             = [aws_security_group.instance.id]
    delete_on_termination       = true
  }

  block_device_mappings {
    device_name = data.aws_ami.selected.root_device_name

    ebs {
      volume_size           = var.root_volume_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/templates/user-data.sh.tftpl", {
    package_url            = var.presignd_package_url
    package_sha256         = var.presignd_package_sha256
    region                 = var.region
    api_keys_ssm_parameter = var.api_keys_ssm_parameter
    config                 = local.instance_config
  }))

  # Application = "presignd" is what monitoring/prometheus.yml's EC2
  # discovery looks for (provider default_tags do not reach instances
  # launched by an autoscaling group).
  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = var.name, Application = "presignd", Deployment = var.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = var.name, Application = "presignd", Deployment = var.name })
  }

  # The role's policies must exist before an instance asks for credentials.
  depends_on = [aws_iam_role_policy.presignd, aws_iam_role_policy.package, aws_iam_role_policy.kms, aws_iam_role_policy.ssm_api_keys]
}

# --- load balancer --------------------------------------------------------------

resource "aws_lb" "presignd" {
  name                       = "${var.name}-alb"
  load_balancer_type         = "application"
  internal                   = var.internal
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.subnet_ids
  drop_invalid_header_fields = true
  idle_timeout               = 60
}

resource "aws_lb_target_group" "presignd" {
  name     = "${var.name}-tg"
  port     = local.api_port
  protocol = "HTTP"
  vpc_id   = var.vpc_id

  # presignd drains in-flight requests for up to shutdown_timeout on stop;
  # the load balancer waits as long before it forgets a leaving instance.
  deregistration_delay = var.shutdown_timeout

  # GET /health answers 200 only while presignd reaches S3 (HeadBucket).
  health_check {
    enabled             = true
    protocol            = "HTTP"
    path                = "/health"
    port                = "traffic-port"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.presignd.arn
  port              = 80
  protocol          = "HTTP"

  # With a certificate, plain HTTP only redirects: the API hands out URLs
  # that are credentials.
  default_action {
    type             = local.https ? "redirect" : "forward"
    target_group_arn = local.https ? null : aws_lb_target_group.presignd.arn

    dynamic "redirect" {
      for_each = local.https ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.presignd.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.presignd.arn
  }
}

# /metrics is for Prometheus, not for the internet.
resource "aws_lb_listener_rule" "hide_metrics" {
  listener_arn = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
  priority     = 10

  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "application/json"
      status_code  = "404"
      message_body = "{\"detail\": \"Not Found\", \"error_code\": \"not_found\"}"
    }
  }
}

# --- autoscaling group ----------------------------------------------------------

resource "aws_autoscaling_group" "presignd" {
  name                = "${var.name}-asg"
  vpc_zone_identifier = local.instance_subnets
  min_size            = var.min_size
  max_size            = var.max_size
  # With the CPU scaling policy on, the policy owns the desired capacity;
  # Terraform setting it on every apply would undo the policy's work.
  desired_capacity = var.cpu_target_percent > 0 ? null : var.desired_capacity

  # ELB health: an instance whose /health fails is replaced, and an instance
  # refresh waits for new instances to pass /health before going on, so a
  # bad package or config stops a rollout instead of completing it.
  target_group_arns         = [aws_lb_target_group.presignd.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 300
  default_instance_warmup   = 120

  launch_template {
    id      = aws_launch_template.presignd.id
    version = aws_launch_template.presignd.latest_version
  }

  # A new launch template version (new package, new settings) replaces the
  # instances a few at a time, keeping most of them in service.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
      instance_warmup        = 120
    }
  }

  tag {
    key                 = "Name"
    value               = var.name
    propagate_at_launch = true
  }
}

resource "aws_autoscaling_policy" "cpu" {
  count                  = var.cpu_target_percent > 0 ? 1 : 0
  name                   = "${var.name}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.presignd.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target_percent
  }
}
