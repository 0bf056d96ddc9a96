# Terraform and provider versions. Cross-variable validation (min <= desired
# <= max) needs Terraform 1.9 or later.
terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Application = "presignd", Deployment = var.name }, var.tags)
  }
}
