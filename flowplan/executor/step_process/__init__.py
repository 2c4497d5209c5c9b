"""A step's process and what it leaves: the process itself (its group, deadline, cancel), the
`run_as` user and the files it works on, logs and masking, quoting of untrusted script values.
Deciding which steps run is flowplan.executor.run's."""
