# The java-ecs walkthrough's config variables: plan-time inputs (change one with
# FP_VAR_NAME=... or a *.auto.fpvars file, then `flowplan apply`).

variable "maven_flags" {
  description = "Extra Maven options for every mvn the pipeline runs. -o (offline) builds from ~/.m2 alone; with a reachable Maven repository, set it to \"\"."
  type        = string
  default     = "-o"
}

variable "fail_a_test" {
  description = "Whether PipelineDemoTest fails on purpose (GREETER_FAIL_TEST), to show a failing unit task. Per run: flowplan run java_ecs --var GREETER_FAIL_TEST=true."
  type        = bool
  default     = false
}

variable "port" {
  description = "The greeter's port on web1; web2 takes the next one, the ECS instances the two after."
  type        = number
  default     = 18080
}

# The SSH hosts: run.sh starts them and writes these into sshd.auto.fpvars.

variable "ssh_key_file" {
  description = "The private key that logs in to both SSH hosts."
  type        = string
}

variable "web1_port" {
  description = "web1's SSH port."
  type        = number
}

variable "web1_user" {
  description = "web1's login user."
  type        = string
}

variable "web2_port" {
  description = "web2's SSH port."
  type        = number
}

variable "web2_user" {
  description = "web2's login user."
  type        = string
}

# The ECS API: the emulator run.sh starts on 127.0.0.1, accepting the key pair run.sh gives it.

variable "ecs_port" {
  description = "The port of the ECS API (the emulator)."
  type        = number
  default     = 18500
}

variable "alicloud_access_key" {
  description = "AccessKey ID for the ECS API: FP_VAR_alicloud_access_key."
  type        = string
  sensitive   = true
}

variable "alicloud_secret_key" {
  description = "AccessKey secret for the ECS API: FP_VAR_alicloud_secret_key."
  type        = string
  sensitive   = true
}
