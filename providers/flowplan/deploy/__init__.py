"""Deploying to the hosts of a `deployment_group`: the transport protocol (`transport`) that the
`host_deploy` step drives, batch by batch. Transports live in their own packages and are loaded by
name when a deploy needs them: `local` (this machine, `connection = "local"`) in `local`, SSH in
providers.ssh, Alibaba Cloud Assistant in providers.alicloud. Core never imports any of them.
"""
