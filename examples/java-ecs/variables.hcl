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
  description = "The port the deploy stage runs the service on."
  type        = number
  default     = 18080
}

variable "install_dir" {
  description = "Where the deploy stage unpacks releases and runs the service; empty: .flowplan/greeter in this directory."
  type        = string
  default     = ""
}
