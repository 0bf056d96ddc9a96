# What the rest of the world needs to use this deployment.

output "api_url" {
  description = "Base URL of the presignd API (the load balancer). Point clients and the upload page (?api=...) here."
  value       = "${local.https ? "https" : "http"}://${aws_lb.presignd.dns_name}"
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer, for a CNAME or alias record."
  value       = aws_lb.presignd.dns_name
}

output "load_balancer_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.presignd.zone_id
}

output "bucket_name" {
  description = "The S3 bucket files are stored in."
  value       = aws_s3_bucket.files.bucket
}

output "bucket_arn" {
  description = "ARN of the S3 bucket."
  value       = aws_s3_bucket.files.arn
}

output "upload_prefix" {
  description = "Key prefix presignd stores uploads under."
  value       = var.upload_prefix
}

output "instance_role_arn" {
  description = "ARN of the IAM role the instances (and so presignd) run as."
  value       = aws_iam_role.presignd.arn
}

output "instance_role_name" {
  description = "Name of the IAM role the instances run as (e.g. for a KMS key policy)."
  value       = aws_iam_role.presignd.name
}

output "instance_profile_name" {
  description = "Name of the instance profile wrapping the role."
  value       = aws_iam_instance_profile.presignd.name
}

output "autoscaling_group_name" {
  description = "Name of the autoscaling group; change its size with desired_capacity/min_size/max_size, or `aws autoscaling start-instance-refresh` to roll instances."
  value       = aws_autoscaling_group.presignd.name
}

output "target_group_arn" {
  description = "ARN of the target group (health check GET /health on port 8000)."
  value       = aws_lb_target_group.presignd.arn
}

output "instance_security_group_id" {
  description = "Security group of the instances (API port reachable from the load balancer only)."
  value       = aws_security_group.instance.id
}

output "load_balancer_security_group_id" {
  description = "Security group of the load balancer."
  value       = aws_security_group.alb.id
}

output "ami_id" {
  description = "AMI the instances boot from."
  value       = data.aws_ami.selected.id
}

output "waf_web_acl_arn" {
  description = "ARN of the WAF web ACL holding the per-client-IP rate limit on the load balancer; null when waf_rate_limit = 0."
  value       = local.waf ? aws_wafv2_web_acl.presignd[0].arn : null
}
