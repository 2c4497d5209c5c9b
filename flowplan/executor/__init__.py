"""The pipeline executor: runs, stages, tasks, steps."""
