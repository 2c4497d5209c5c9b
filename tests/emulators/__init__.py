"""API emulators the tests (and anyone trying an example by hand) talk to instead of real clouds:
`aliyun` speaks the Alibaba Cloud ECS RPC API the way aliyun-python-sdk-core sends it;
`kubernetes` is a Kubernetes API server that the official Python client and kubectl talk to."""
