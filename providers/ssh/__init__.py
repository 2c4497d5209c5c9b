"""The SSH transport of deploys: `SshTransport` (providers.ssh.transport), which the `flowplan`
provider uses to probe a deployment group's hosts and the `host_deploy` step to deploy to them.
Installed as flowplan_providers.ssh; core never imports it, the flowplan provider only inside the
functions that reach a host (asyncssh takes a while to import)."""

from flowplan_providers.ssh.transport import SshSession, SshTransport

__all__ = ["SshSession", "SshTransport"]
