"""The `blue_green` and `canary` strategies of the `kubectl_apply` step, and their blocks.

    strategy = "blue_green"
    blue_green {
      service  = "web"          # the Service whose selector picks the live colour
      keep_old = false          # delete the colour that served before (true: keep it running)
    }

    strategy = "canary"
    canary {
      steps = [{ weight = 20, pause = "manual" }, { weight = 50, pause = "30s" }]
      analysis = "./scripts/check-canary.sh"    # after each step; must exit 0
    }

Blue/green: each Deployment of the manifests is applied as `NAME-COLOUR` (label
`flowplan.dev/colour` on it, its selector and its pods) beside the colour the Service selects
now; once every new pod is ready (Cluster.wait_rollout) the Service's selector is switched to the
new colour, and the old colour's Deployments are deleted unless `keep_old`. A rollout that never
gets ready fails the step and leaves the Service, and so the live colour, as it was. A rollback
(`flowplan rollback PIPELINE --to RUN`) switches the selector back to RUN's colour when that
colour's Deployments still run RUN's images, and deploys RUN's manifests as a new colour
otherwise.

Canary: beside each Deployment NAME that runs already (the stable one, never changed while the
canary runs), `NAME-canary` runs the new pod template (label `flowplan.dev/track=canary` on it,
its selector and its pods; the pods keep the template's labels, so the Service sends them their
share). Each step's `weight` is the canary's share of pods: it gets ceil(stable replicas * weight
/ (100 - weight)) replicas, at least 1. After each step the `analysis` command runs in the
workspace (as a command step's script; output in the step log) and must exit 0, then the step's
pause: a duration, or "manual", which leaves the step WAITING until `flowplan resume` (the pause
gate of flowplan.executor.run.gates). After the last step the stable Deployment gets the new
template and the canary is deleted. A failed analysis, a canary that never gets ready, or a
cancel (`flowplan cancel RUN`, also while paused) deletes the canary and leaves the stable
Deployment as it was. A Deployment with no stable version yet is applied directly.

Where the step is (which pauses were passed) comes from the step run's `resume` decisions
(DeployLedger.resumes), so a continued step goes on with the next canary step. Talking to the
cluster is cluster.py's; rendering manifests, prune and the rolling strategy are step.py's.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowplan.config.schema import BlockModel, parse_duration
from flowplan.executor.status import Status

from .cluster import ClusterError

COLOUR_LABEL = "flowplan.dev/colour"
TRACK_LABEL = "flowplan.dev/track"
COLOURS = ("blue", "green")
CANARY_SUFFIX = "-canary"
STRATEGIES = ("rolling", "blue_green", "canary")
NAMES = ("blue_green", "canary")           # the strategies of this module
DEPLOYMENT = ("apps/v1", "Deployment")
SERVICE = ("v1", "Service")


# -- the blocks --------------------------------------------------------------------------------

class BlueGreen(BlockModel):
    """`blue_green { service, keep_old }` of a kubectl_apply step."""

    service: str = Field(min_length=1)
    keep_old: bool = False


class CanaryStep(BaseModel):
    """One entry of `canary { steps = [...] }`: the canary's share of pods, then a pause."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: int = Field(ge=1, le=99)
    pause: Optional[str] = None           # "manual" or a duration such as "30s"

    @field_validator("pause")
    @classmethod
    def _pause(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value != "manual":
            try:
                parse_duration(value)
            except ValueError:
                raise ValueError(f'pause is "manual" or a duration such as 30s or 5m, not '
                                 f'{value!r}') from None
        return value


class Canary(BlockModel):
    """`canary { steps, analysis }` of a kubectl_apply step."""

    steps: list[CanaryStep] = Field(min_length=1)
    analysis: Optional[str] = None

    @model_validator(mode="after")
    def _each_step_waits_for_something(self) -> "Canary":
        if self.analysis is None:
            bare = [str(n) for n, s in enumerate(self.steps, start=1) if s.pause is None]
            if bare:
                raise ValueError(f"canary step {', '.join(bare)} has no pause and the canary "
                                 "block no analysis: give each step a pause (\"manual\" or a "
                                 "duration) or the block an analysis command")
        return self


# -- what a strategy reports -------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """What a strategy did, for the step to turn into its StepResult."""

    status: Status                        # SUCCEEDED, FAILED, CANCELED or WAITING
    applied: list[dict] = field(default_factory=list)   # as the server returned them
    kept: list[dict] = field(default_factory=list)      # earlier objects kept on purpose
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    summary: dict[str, Any] | None = None


class _Stop(Exception):
    """Ends a strategy early: the outcome to report."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.error or outcome.status.value)
        self.outcome = outcome


def run(strategy: str, context: Any, cluster: Any, objects: list[dict], config: Any,
        log: Callable[[str], None]) -> Outcome:
    """Deploy `objects` (rendered manifests) with `strategy` ("blue_green" or "canary")."""
    plan = _Deploy(context, cluster, objects, config, log)
    try:
        if strategy == "blue_green":
            return plan.blue_green()
        if strategy == "canary":
            return plan.canary()
    except _Stop as stop:
        return stop.outcome
    raise ValueError(f"strategy {strategy!r} is not one of {', '.join(STRATEGIES[1:])}")


# -- shared ------------------------------------------------------------------------------------

def _kind(obj: Mapping[str, Any]) -> tuple[str, str]:
    return str(obj.get("apiVersion", "")), str(obj.get("kind", ""))


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _is(obj: Mapping[str, Any], kind: tuple[str, str]) -> bool:
    return obj.get("kind") == kind[1]


def _images(obj: Mapping[str, Any] | None) -> list[str]:
    spec: Any = obj or {}
    for key in ("spec", "template", "spec"):
        spec = spec.get(key) if isinstance(spec, Mapping) else None
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    return [str(c.get("image")) for c in containers or [] if isinstance(c, Mapping)] \
        if isinstance(containers, list) else []


def _selector(service: Mapping[str, Any] | None) -> dict:
    """A Service's selector as the server gave it (nothing, when it is not a map)."""
    spec = (service or {}).get("spec")
    selector = spec.get("selector") if isinstance(spec, Mapping) else None
    return dict(selector) if isinstance(selector, Mapping) else {}


def _replicas(deployment: Mapping[str, Any] | None) -> int:
    """spec.replicas of a Deployment as the server gave it: 1 when absent or not a count."""
    spec = (deployment or {}).get("spec")
    value = spec.get("replicas") if isinstance(spec, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 1


def _with_label(obj: dict, name: str, key: str, value: str) -> dict:
    """A copy of the Deployment `obj` named `name`, with `key=value` on it, its selector and
    its pod template; managedFields, status and server fields dropped."""
    made = copy.deepcopy(obj)
    metadata = _map(made, "metadata")
    for server_field in ("resourceVersion", "uid", "managedFields", "creationTimestamp",
                         "generation"):
        metadata.pop(server_field, None)
    made.pop("status", None)
    metadata["name"] = name
    _map(metadata, "labels")[key] = value
    spec = _map(made, "spec")
    _map(_map(spec, "selector"), "matchLabels")[key] = value
    _map(_map(_map(spec, "template"), "metadata"), "labels")[key] = value
    return made


def _map(parent: dict, key: str) -> dict:
    """parent[key], made a map when it is missing or is not one."""
    if not isinstance(parent.get(key), dict):
        parent[key] = {}
    return parent[key]


class _Deploy:
    def __init__(self, context: Any, cluster: Any, objects: list[dict], config: Any,
                 log: Callable[[str], None]):
        self.context = context
        self.cluster = cluster
        self.objects = objects
        self.config = config
        self.say = log
        self.namespace = getattr(config, "namespace", None) or "default"
        self.timeout = float(parse_duration(getattr(config, "timeout", None) or "5m"))
        self.force = bool(getattr(config, "force_conflicts", False))
        self.cancel = context.cancel
        self.deployments = [o for o in objects if _is(o, DEPLOYMENT)]

    # -- cluster calls, with ClusterError turned into a failed outcome ---------------------------

    def apply(self, objects: list[dict], what: str) -> list[dict]:
        if not objects:
            return []
        try:
            return self.cluster.apply(objects, namespace=self.namespace, force=self.force)
        except ClusterError as error:
            raise _Stop(Outcome(Status.FAILED, error=f"{what}: {error}")) from None

    def namespace_of(self, obj: Mapping[str, Any]) -> str:
        return (obj.get("metadata") or {}).get("namespace") or self.namespace

    def get(self, kind: tuple[str, str], name: str, namespace: str | None = None
            ) -> dict | None:
        try:
            return self.cluster.get(kind[0], kind[1], name, namespace or self.namespace)
        except ClusterError as error:
            raise _Stop(Outcome(Status.FAILED, error=f"reading {kind[1]} {name}: {error}")) \
                from None

    def delete(self, objects: list[dict]) -> list[str]:
        """Delete `objects` (best effort: a failure is logged); the names deleted."""
        gone = []
        for obj in objects:
            kind = _kind(obj)
            try:
                if self.cluster.delete(kind[0], kind[1], _name(obj), self.namespace_of(obj)):
                    gone.append(_name(obj))
            except ClusterError as error:
                self.say(f"could not delete {kind[1]} {_name(obj)}: {error}")
        return gone

    def wait(self, objects: list[dict]) -> None:
        """ClusterError (the pods not ready and why) when they do not get ready in time."""
        timeout = self.timeout
        deadline = getattr(self.context, "deadline", None)
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - time.monotonic()))
        placed = [{**o, "metadata": {**(o.get("metadata") or {}),
                                     "namespace": self.namespace_of(o)}} for o in objects]
        self.cluster.wait_rollout(placed, timeout=timeout, log=self.say, cancel=self.cancel)

    def rollback_outputs(self) -> Mapping[str, Any] | None:
        """The outputs this step had in the run a rollback goes back to, else None."""
        if getattr(self.context.run, "trigger", None) != "rollback":
            return None
        source = getattr(self.context, "rollback_of", lambda: None)()
        return source.outputs if source is not None else None

    # -- blue/green ------------------------------------------------------------------------------

    def blue_green(self) -> Outcome:
        settings = getattr(self.config, "blue_green", None)
        if settings is None:
            return Outcome(Status.FAILED, error='strategy "blue_green" needs a blue_green '
                                                '{ service = "NAME" } block')
        if not self.deployments:
            return Outcome(Status.FAILED, error="blue_green: the manifests hold no Deployment "
                                                "to deploy in a new colour")
        service_name = settings.service
        manifest = next((o for o in self.objects
                         if _is(o, SERVICE) and _name(o) == service_name), None)
        live_service = self.get(SERVICE, service_name,
                                self.namespace_of(manifest) if manifest else None)
        if manifest is None and live_service is None:
            return Outcome(Status.FAILED, error=f"blue_green: Service {service_name} is neither "
                                                f"in the manifests nor in namespace "
                                                f"{self.namespace}")
        live = _selector(live_service).get(COLOUR_LABEL)
        if live is not None and live not in COLOURS:
            return Outcome(Status.FAILED, error=f"blue_green: Service {service_name} selects "
                                                f"{COLOUR_LABEL}={live!r}, not blue or green")
        others = [o for o in self.objects if not _is(o, DEPLOYMENT) and o is not manifest]
        back_to = (self.rollback_outputs() or {}).get("colour")
        if back_to in COLOURS:
            outcome = self._switch_back(back_to, live, manifest, live_service, others, settings)
            if outcome is not None:
                return outcome
        new = "green" if live == "blue" else "blue"
        coloured = [_with_label(d, f"{_name(d)}-{new}", COLOUR_LABEL, new)
                    for d in self.deployments]
        names = ", ".join(_name(d) for d in coloured)
        self.say(f"blue/green: {live or 'no colour'} serves Service {service_name}; deploying "
                 f"{new} ({names})")
        applied = self.apply(others, "applying the manifests besides the Deployments")
        applied += self.apply(coloured, f"applying {new}")
        try:
            self.wait(coloured)
        except ClusterError as error:
            if self.cancel.is_set():
                return Outcome(Status.CANCELED, applied=applied, error=(
                    f"canceled before Service {service_name} was switched to {new} "
                    f"({live or 'nothing'} still serves)"))
            serving = f"{live} still serves" if live else "nothing was switched"
            return Outcome(Status.FAILED, applied=applied, error=(
                f"{new} ({names}) did not get ready: {error}; Service {service_name} was not "
                f"switched ({serving}); {names} left for inspection"))
        if self.cancel.is_set():
            return Outcome(Status.CANCELED, applied=applied, error=(
                f"canceled before Service {service_name} was switched to {new}"))
        return self._switch(new, live, manifest, live_service, applied, settings)

    def _switch(self, new: str, live: str | None, manifest: dict | None,
                live_service: dict | None, applied: list[dict], settings: BlueGreen,
                ) -> Outcome:
        service_name = settings.service
        if manifest is not None:
            service = copy.deepcopy(manifest)
            _map(_map(service, "spec"), "selector")[COLOUR_LABEL] = new
            applied += self.apply([service], f"switching Service {service_name} to {new}")
        else:
            try:
                applied.append(self.cluster.patch(
                    SERVICE[0], SERVICE[1], service_name,
                    self.namespace_of(live_service or {}),
                    {"spec": {"selector": {COLOUR_LABEL: new}}}))
            except ClusterError as error:
                return Outcome(Status.FAILED, applied=applied, error=(
                    f"switching Service {service_name} to {new}: {error}"))
        self.say(f"switched Service {service_name} to {new}")
        old = self._old_deployments(live, new)
        kept: list[dict] = []
        if old and settings.keep_old:
            kept = [o for o in old]
            self.say(f"kept {', '.join(_name(o) for o in old)} (keep_old)")
        elif old:
            gone = self.delete(old)
            if gone:
                self.say(f"deleted {', '.join(gone)}")
        outputs = {"colour": new, "previous_colour": live or "", "service": service_name}
        title = f"{new} serves Service {service_name}" + (f" (was {live})" if live else "")
        return Outcome(Status.SUCCEEDED, applied=applied, kept=kept, outputs=outputs,
                       summary={"title": title, "lines": [
                           f"{_name(d)}-{new}: {', '.join(_images(d))}"
                           for d in self.deployments], "colour": new})

    def _old_deployments(self, live: str | None, new: str) -> list[dict]:
        """The Deployments that served before: the other colour's, or (before the first
        blue/green deploy) the uncoloured ones of the same names."""
        if live == new:
            return []
        found = []
        for deployment in self.deployments:
            name = _name(deployment) if live is None else f"{_name(deployment)}-{live}"
            there = self.get(DEPLOYMENT, name, self.namespace_of(deployment))
            if there is not None:
                found.append(there)
        return found

    def _switch_back(self, colour: str, live: str | None, manifest: dict | None,
                     live_service: dict | None, others: list[dict], settings: BlueGreen
                     ) -> Outcome | None:
        """A rollback to a run whose colour was `colour`: switch the selector back when that
        colour still runs the run's images; None when it does not (deploy again)."""
        expected = [_with_label(d, f"{_name(d)}-{colour}", COLOUR_LABEL, colour)
                    for d in self.deployments]
        missing = []
        for deployment in expected:
            there = self.get(DEPLOYMENT, _name(deployment), self.namespace_of(deployment))
            if there is None:
                missing.append(f"{_name(deployment)} is gone")
            elif _images(there) != _images(deployment):
                missing.append(f"{_name(deployment)} runs {', '.join(_images(there))} now")
        if missing:
            self.say(f"rollback: {colour} cannot be switched back to ({'; '.join(missing)}): "
                     f"deploying the run's manifests again")
            return None
        if live == colour:
            self.say(f"rollback: {colour} serves Service {settings.service} already")
            return Outcome(Status.SUCCEEDED, outputs={
                "colour": colour, "previous_colour": colour, "service": settings.service},
                summary={"title": f"{colour} serves Service {settings.service} already"})
        self.say(f"rollback: {colour} ({', '.join(_name(d) for d in expected)}) still runs the "
                 f"run's images; switching Service {settings.service} back to it")
        try:
            self.wait(expected)
        except ClusterError as error:
            return Outcome(Status.FAILED, error=(
                f"rollback: {colour} is not ready: {error}; Service {settings.service} was "
                f"not switched"))
        applied = self.apply(others, "applying the manifests besides the Deployments")
        return self._switch(colour, live, manifest, live_service, applied, settings)

    # -- canary ----------------------------------------------------------------------------------

    def canary(self) -> Outcome:
        settings = getattr(self.config, "canary", None)
        if settings is None:
            return Outcome(Status.FAILED, error='strategy "canary" needs a canary { steps = '
                                                '[...] } block')
        if not self.deployments:
            return Outcome(Status.FAILED, error="canary: the manifests hold no Deployment")
        others = [o for o in self.objects if not _is(o, DEPLOYMENT)]
        stables = {_name(d): self.get(DEPLOYMENT, _name(d), self.namespace_of(d))
                   for d in self.deployments}
        first = [name for name, there in stables.items() if there is None]
        if self.rollback_outputs() is not None or first:
            why = ("rollback: the run's manifests are applied without canary steps"
                   if self.rollback_outputs() is not None else
                   f"no stable Deployment {', '.join(first)} yet: applied without canary steps")
            self.say(why)
            applied = self.apply(self.objects, "applying the manifests")
            try:
                self.wait(self.deployments)
            except ClusterError as error:
                return Outcome(Status.FAILED, applied=applied, error=str(error))
            return Outcome(Status.SUCCEEDED, applied=applied, summary={"title": why})
        return _Canary(self, settings, others, stables).run()


class _Canary:
    """One run of the canary steps (continued after each manual pause)."""

    def __init__(self, deploy: _Deploy, settings: Canary, others: list[dict],
                 stables: Mapping[str, dict | None]):
        self.deploy = deploy
        self.settings = settings
        self.others = others
        self.stables = stables
        self.context = deploy.context
        self.say = deploy.say
        self.count = len(settings.steps)
        self.names = ", ".join(_name(d) for d in deploy.deployments)
        self.canaries = [_with_label(d, _name(d) + CANARY_SUFFIX, TRACK_LABEL, "canary")
                         for d in deploy.deployments]

    def _ledger(self) -> Any:
        return getattr(self.context, "deploys", None)

    def run(self) -> Outcome:
        ledger = self._ledger()
        canceled_by = ledger.canceled_by() if ledger is not None else None
        if canceled_by is not None:
            return self.abort(Status.CANCELED, f"canceled by {canceled_by} while paused")
        resumes = ledger.resumes() if ledger is not None else 0
        start = self._first_step(resumes)
        deploy = self.deploy
        applied = deploy.apply(self.others, "applying the manifests besides the Deployments")
        for index in range(start, self.count):
            step = self.settings.steps[index]
            number = index + 1
            shares = self.scale(step.weight, number)
            if self.deploy.cancel.is_set():
                return self.abort(Status.CANCELED, f"canceled at canary step {number}")
            if self.settings.analysis:
                self.analyse(number, step.weight)
            if step.pause == "manual":
                ref = self.context.run.ref
                self.say(f"paused at canary step {number} of {self.count} ({shares}): "
                         f"flowplan resume {ref} goes on, flowplan cancel {ref} restores "
                         f"{self.names}")
                return Outcome(Status.WAITING, applied=applied, summary={
                    "title": f"canary at step {number} of {self.count}: {shares}",
                    "step": number, "weight": step.weight})
            if step.pause:
                seconds = parse_duration(step.pause)
                self.say(f"canary step {number} of {self.count}: waiting {step.pause}")
                if self.deploy.cancel.wait(seconds):
                    return self.abort(Status.CANCELED, f"canceled at canary step {number}")
        return self.promote(applied)

    def _first_step(self, resumes: int) -> int:
        """The index of the step to run: the one after the `resumes`-th manual pause."""
        if resumes <= 0:
            return 0
        passed = 0
        for index, step in enumerate(self.settings.steps):
            if step.pause == "manual":
                passed += 1
                if passed == resumes:
                    self.say(f"resumed after canary step {index + 1} of {self.count}")
                    return index + 1
        return self.count

    def scale(self, weight: int, number: int) -> str:
        """Run the canary at `weight` and wait for it; the shares, for messages."""
        made, shares = [], []
        for canary, deployment in zip(self.canaries, self.deploy.deployments):
            replicas = max(1, _replicas(self.stables[_name(deployment)]))
            wanted = max(1, math.ceil(replicas * weight / (100 - weight)))
            scaled = copy.deepcopy(canary)
            scaled["spec"]["replicas"] = wanted
            made.append(scaled)
            share = round(100 * wanted / (wanted + replicas))
            shares.append(f"{_name(canary)} {wanted} of {wanted + replicas} pods ({share}%)")
        text = "; ".join(shares)
        self.say(f"canary step {number} of {self.count}: weight {weight}%: {text}")
        try:
            self.deploy.apply(made, f"canary step {number}")
        except _Stop as stop:
            raise _Stop(self.abort(Status.FAILED, stop.outcome.error or "apply failed")) \
                from None
        try:
            self.deploy.wait(made)
        except ClusterError as error:
            if self.deploy.cancel.is_set():
                raise _Stop(self.abort(Status.CANCELED, f"canceled at canary step {number}")) \
                    from None
            raise _Stop(self.abort(Status.FAILED, f"the canary did not get ready at step "
                                                  f"{number} ({weight}%): {error}")) from None
        return text

    def analyse(self, number: int, weight: int) -> None:
        """Run the analysis command; _Stop (after the abort) when it does not exit 0."""
        from flowplan.steps.running import run_in_step, script_argv

        self.say(f"canary step {number} of {self.count}: analysis: {self.settings.analysis}")
        argv = script_argv(self.context, self.settings.analysis, "bash -e")
        finished = run_in_step(self.context, argv, env={
            "FLOWPLAN_CANARY_STEP": str(number), "FLOWPLAN_CANARY_WEIGHT": str(weight),
            "FLOWPLAN_CANARY_DEPLOYMENTS": " ".join(_name(c) for c in self.canaries),
            "FLOWPLAN_NAMESPACE": self.deploy.namespace})
        if finished.failure is not None:
            status = finished.failure.status
            reason = finished.failure.error or status.value
            raise _Stop(self.abort(status if status == Status.CANCELED else Status.FAILED,
                                   f"canary analysis at step {number} ({weight}%): {reason}"))
        if finished.exit_code != 0:
            raise _Stop(self.abort(Status.FAILED, f"canary analysis failed at step {number} "
                                                  f"({weight}%): exit code "
                                                  f"{finished.exit_code}"))
        self.say(f"canary step {number} of {self.count}: analysis passed")

    def abort(self, status: Status, reason: str) -> Outcome:
        """Delete the canary (the stable Deployments were never changed)."""
        gone = self.deploy.delete(self.canaries)
        removed = f"canary {', '.join(gone)} deleted" if gone else "no canary was running"
        self.say(f"{reason}: {removed}; {self.names} left at the stable version")
        return Outcome(status, error=f"{reason}; {removed}, {self.names} left at the stable "
                                     f"version", summary={
                                         "title": f"canary aborted: {reason}"})

    def promote(self, applied: list[dict]) -> Outcome:
        self.say(f"canary steps passed: {self.names} get the new version")
        applied += self.deploy.apply(self.deploy.deployments, "promoting the canary")
        try:
            self.deploy.wait(self.deploy.deployments)
        except ClusterError as error:
            gone = self.deploy.delete(self.canaries)
            if self.deploy.cancel.is_set():
                return Outcome(Status.CANCELED, applied=applied, error=(
                    f"canceled while {self.names} rolled out the new version (the canary steps "
                    f"had passed); canary {', '.join(gone) or 'already gone'} deleted"))
            return Outcome(Status.FAILED, applied=applied, error=(
                f"{self.names} did not get ready with the new version: {error}; canary "
                f"{', '.join(gone) or 'already gone'} deleted"))
        gone = self.deploy.delete(self.canaries)
        if gone:
            self.say(f"deleted canary {', '.join(gone)}")
        return Outcome(Status.SUCCEEDED, applied=applied, outputs={
            "canary_steps": str(self.count)}, summary={
                "title": f"{self.names} promoted after {self.count} canary "
                         f"step{'s' if self.count != 1 else ''}"})
