"""Running a run: the drive through its stages (scheduler), one task (task), which tasks start
(readiness), what a run waits for (gates, approval), its values, layout, source and caches.
How a step's process runs is step_process's; the calls that start and continue runs are
flowplan.executor.service's."""
