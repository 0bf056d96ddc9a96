# An optional AWS WAF rate limit on the load balancer (waf_rate_limit > 0;
# off by default, and then nothing here is created). presignd's own
# rate_limit counts on each instance; this rule counts each client IP address
# over the whole fleet, and stops a flood before it reaches an instance.
#
# aggregate_key_type = "IP": the load balancer is the first hop, so WAF sees
# the client's own address. FORWARDED_IP would count whatever the client
# writes in X-Forwarded-For, which it can change at will.
#
# The load balancer's health checks go from it to the targets and never
# pass through WAF; GET /health needs no credentials in presignd either.

locals {
  waf = var.waf_rate_limit > 0
}

resource "aws_wafv2_web_acl" "presignd" {
  count       = local.waf ? 1 : 0
  name        = "${var.name}-rate-limit"
  description = "presignd: at most ${var.waf_rate_limit} requests per 5 minutes per client IP"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  # Blocked requests get presignd's own 429 answer rather than WAF's bare
  # 403, so clients handle both limits alike.
  custom_response_body {
    key          = "rate_limited"
    content_type = "APPLICATION_JSON"
    content = jsonencode({
      detail     = "too many requests from this address; retry later"
      error_code = "rate_limited"
    })
  }

  rule {
    name     = "rate-limit-per-client-ip"
    priority = 0

    action {
      block {
        custom_response {
          response_code            = 429
          custom_response_body_key = "rate_limited"

          # WAF looks at the rate every few seconds over the 5-minute window:
          # a blocked address is let through again once its count falls below
          # the limit.
          response_header {
            name  = "Retry-After"
            value = "60"
          }
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_rate_limit
        evaluation_window_sec = 300
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit-per-client-ip"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-web-acl"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "presignd" {
  count        = local.waf ? 1 : 0
  resource_arn = aws_lb.presignd.arn
  web_acl_arn  = aws_wafv2_web_acl.presignd[0].arn
}
