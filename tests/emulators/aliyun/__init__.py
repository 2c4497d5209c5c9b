"""An Alibaba Cloud ECS and Container Registry emulator for tests and for trying examples by hand:
the real aliyun-python-sdk-core signs requests to it, it checks them as the real gateway does, it
runs the Cloud Assistant commands it receives as local processes, and it keeps Container Registry
namespaces and repositories (Enterprise and Personal Edition) in memory.

    with EcsEmulator({"AKID": "secret"}, [Instance("i-web1", "cn-hangzhou", "10.0.0.5")]) as ecs:
        client.add_endpoint("cn-hangzhou", "ecs", ecs.endpoint)    # or request.set_endpoint

On its own: `python -m tests.emulators.aliyun --port N --access-key-id ID --access-key-secret
SECRET --instances FILE [--root DIR]`.
"""

from .container_registry import ContainerRegistry, Login
from .server import ApiError, EcsEmulator, Fault, Instance, RecordedRequest, load_instances

__all__ = ["ApiError", "ContainerRegistry", "EcsEmulator", "Fault", "Instance", "Login",
           "RecordedRequest", "load_instances"]
