"""Step types: core's (`command`, `archive`, `download_artifact`; `manual_approval` lives with
the approval rules in flowplan.executor.run.approval) and the build steps registered through the
`flowplan.step_types` entry points (Java code scan, Maven tests and builds, Node.js builds and
tests).

What several step types share: `running` (one process of a step, with the step's deadline, cancel
and log), `tools` (finding a JDK, Maven or Node.js from the `tools` settings or PATH) and
`reports` (keeping report files with the run's artifacts). The protocol and the registry are
flowplan.executor.step_type; what happens around a step (order, retries, recording) is the task
runner's.
"""
