"""The `celery` executor: a run's tasks executed by `flowplan worker` processes, on any machine.

With `flowplan { executor = "celery"  broker = "redis://..." }` the process driving a run (the CLI's
`flowplan run`, or a server) still decides which tasks are ready (flowplan.executor.run.scheduler);
each ready task is sent as one Celery message to the queue its `runs_on` names (`default` when
absent) instead of running on the driver's threads:

- queue.py      the Celery application for a broker, the message's shape, Redis keys, and the
                broker URL as shown (without its password);
- dispatch.py   the driver's side: send, wait for the worker's answer, watch its heartbeat,
                fail or re-send a task whose worker went silent, cancel a task nobody took yet;
- worker.py     the worker's side (`flowplan worker --queue NAME`): check the run's source out on
                this machine, run the task with flowplan.executor.run.task's TaskRunner, which
                writes logs and statuses to the shared store as they happen, beat while it runs
                and watch the store for cancel.

The store is the record (statuses, logs); Redis carries only the messages, heartbeats and answers,
never a secret: workers read the run's definition and variables from the store, its sensitive
values too, encrypted with the operator key (run_secrets.py). A worker on a machine that shares
no disk with the others moves its tasks' artifacts and caches through the server
(remote_files.py, flowplan.server.worker_api) with its worker token (worker_tokens.py).
"""
