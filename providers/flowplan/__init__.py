"""The built-in `flowplan` provider: pipelines, schedules and deployment groups registered into the
flowplan store. Found by core through the `flowplan.providers` entry point."""

from flowplan_providers.flowplan.provider import DEFAULT_STORE_URL, FlowplanProvider, pipeline_content_hash

__all__ = ["DEFAULT_STORE_URL", "FlowplanProvider", "pipeline_content_hash"]
