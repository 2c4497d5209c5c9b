"""What surrounds a step's process: the `run_as` user and the files it works on, logs and
masking, quoting of untrusted script values. The process itself is flowplan.executor.process
(part of what step types import); deciding which steps run is flowplan.executor.run's."""
