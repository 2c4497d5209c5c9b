"""An Alibaba Cloud ECS emulator for tests and for trying examples by hand: the real
aliyun-python-sdk-core signs requests to it, it checks them as the real gateway does, and it runs
the Cloud Assistant commands it receives as local processes.

    with EcsEmulator({"AKID": "secret"}, [Instance("i-web1", "cn-hangzhou", "10.0.0.5")]) as ecs:
        client.add_endpoint("cn-hangzhou", "ecs", ecs.endpoint)    # or request.set_endpoint

On its own: `python -m tests.emulators.aliyun --port N --access-key-id ID --access-key-secret
SECRET --instances FILE [--root DIR]`.
"""

from .server import ApiError, EcsEmulator, Fault, Instance, RecordedRequest, load_instances

__all__ = ["ApiError", "EcsEmulator", "Fault", "Instance", "RecordedRequest", "load_instances"]
