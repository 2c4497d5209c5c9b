"""The built-in `command` and `archive` step types (`manual_approval` is with the approval rules
in flowplan.executor.run.approval); the protocol and registry are flowplan.executor.step_type."""
