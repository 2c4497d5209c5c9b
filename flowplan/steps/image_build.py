"""The `image_build` step type: a container image built from a Dockerfile of the workspace with
buildah and pushed, under every tag, to a registry; the digest is recorded on the run.

    step "image" {
      type       = "image_build"
      dockerfile = "Dockerfile"                       # in the workspace (default)
      context    = "."                                # the build context (default)
      repository = acr_repository.app                 # or "registry.example.com/team/app"
      tags       = ["${run.number}", "${run.commit_short}"]
      build_args = { JAR = "target/app.jar" }
      credentials = "registry-login"                  # a secret `user:password` (optional)
    }

Where it pushes (`destination`):
- `repository = acr_repository.NAME` (a reference: plan orders the pipeline after it): the
  applied repository's `repository_url`, with the credentials of `credentials` when given, else
  a temporary login from the `provider "alicloud"` block (flowplan_providers.alicloud.cr). A
  repository with `tag_immutability = true` refuses, before building, a tag it already has.
- a full image name `HOST[:PORT]/PATH`: the credentials of `credentials` when given, else those
  of the `provider "registry"` block whose url names that host (flowplan_providers.registry),
  else none.
`credentials` names a variable of the run or a store secret, as a source's do; its text is
`username:password` (a text without a colon is a token, sent with the username `token`).
`insecure = true` allows a registry served over plain HTTP (local setups).

Order: everything that can be checked without buildah first (the Dockerfile and context in the
workspace, buildah on PATH, the credentials, the registry answering and taking them, immutable
tags), so each of those fails with its own message before a build starts. Then `buildah bud`
(flowplan.steps.buildah) with the run's labels, output streamed into the step log, the step's
timeout and cancel stopping it; then `buildah push` of each tag, with credentials in a 0600 auth
file in the step's private directory, removed afterwards. Outputs: `image` (`NAME@sha256:...`),
`digest` and `tags` (separated by spaces, as `java_build`'s `jars`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

from pydantic import Field, field_validator, model_validator

from flowplan.config.schema import Ref, Step, _check_duration
from flowplan.executor.errors import PathEscape
from flowplan.executor.run.layout import inside
from flowplan.executor.status import Status
from flowplan.executor.step_type import SecretMissing, StepContext, StepResult
from flowplan.steps.buildah import (AuthFile, Build, BuildahMissing, bud_argv, find_buildah,
                                    push_argv)
from flowplan.steps.image_names import (BadImageName, ImageName, check_digest, check_tag,
                                        parse_image_name, shown)
from flowplan.steps.running import run_in_step

ACR_PREFIX = "acr_repository."
TOKEN_USERNAME = "token"          # the username of a `credentials` text without a colon
LABEL_REVISION = "org.opencontainers.image.revision"
LABEL_RUN = "io.flowplan.run"
LABEL_REF_NAME = "org.opencontainers.image.ref.name"
LABEL_SOURCE = "org.opencontainers.image.source"


def _check_repository(value: str) -> str:
    if isinstance(value, str) and value.startswith(ACR_PREFIX):
        if not value.removeprefix(ACR_PREFIX):
            raise ValueError("name the acr_repository: acr_repository.NAME")
        return value
    try:
        parse_image_name(value)
    except BadImageName as exc:
        raise ValueError(f"{exc}; or refer to an acr_repository (acr_repository.NAME)") from None
    return value


def _check_tags(tags: list[str]) -> list[str]:
    if not tags:
        raise ValueError("give at least one tag")
    for tag in tags:
        check_tag(tag)
    if len(set(tags)) != len(tags):
        raise ValueError(f"a tag is given twice: {', '.join(tags)}")
    return tags


def _as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ImageBuildStep(Step):
    """`type = "image_build"`: an image built with buildah and pushed under every tag."""

    dockerfile: str = "Dockerfile"
    context: str = "."
    repository: Annotated[str, Ref("acr_repository", or_text=True)]
    tags: list[str] = Field(min_length=1)
    build_args: dict[str, str] = {}
    no_cache: bool = False
    platform: Optional[str] = None
    insecure: bool = False
    credentials: Optional[str] = None
    timeout: Optional[str] = None

    _duration = field_validator("timeout")(_check_duration)
    _repository = field_validator("repository")(_check_repository)
    _tags = field_validator("tags")(_check_tags)

    @field_validator("tags", "build_args", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        """`"${run.number}"` alone is a number once the run resolves it: a tag or a build
        argument takes it as its text."""
        if isinstance(value, list):
            return [_as_text(item) for item in value]
        if isinstance(value, dict):
            return {key: _as_text(item) for key, item in value.items()}
        return value

    @model_validator(mode="before")
    @classmethod
    def _literal_tags(cls, values: Any) -> Any:
        """At config load, the literal tags of a list that also holds run-time ones (which the
        run checks once it has their values)."""
        tags = values.get("tags") if isinstance(values, Mapping) else None
        if isinstance(tags, list) and not all(isinstance(tag, str) for tag in tags):
            for tag in tags:
                if isinstance(tag, str):
                    check_tag(tag)
        return values

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not all(part and part.replace("_", "").isalnum()
                                         for part in value.split("/")):
            raise ValueError(f"{shown(value)} is not a platform: write OS/ARCH[/VARIANT], e.g. "
                             "linux/amd64")
        return value

    @field_validator("build_args")
    @classmethod
    def _build_arg_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or not (name[0].isalpha() or name[0] == "_") or \
                    not name.replace("_", "").isalnum() or not name.isascii():
                raise ValueError(f"build argument {shown(name)} is not a name (letters, digits "
                                 "and '_')")
        return value


class StepProblem(Exception):
    """What keeps the step from building or pushing; the text is safe to show."""


@dataclass(frozen=True)
class Destination:
    """Where the image goes and with which credentials (never in repr)."""

    image: ImageName
    insecure: bool
    credentials_from: str                          # for the log: where the credentials came from
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    url: str | None = None                         # the registry's URL, when a block gives it
    immutable_tags: bool = False

    def access(self) -> Any:
        """The flowplan_providers.registry RegistryAccess of this destination."""
        from flowplan_providers.registry.client import RegistryAccess

        scheme = "http" if self.insecure else "https"
        return RegistryAccess(url=self.url or f"{scheme}://{self.image.host}",
                              username=self.username, password=self.password,
                              insecure=self.insecure)


class ImageBuildStepType:
    name = "image_build"
    config_model = ImageBuildStep

    def run(self, context: StepContext) -> StepResult:
        config: ImageBuildStep = context.config
        started = time.monotonic()
        try:
            tags = _check_tags(list(config.tags))
            dockerfile, build_context = build_paths(context, config)
            buildah = find_buildah(context.environment)
            destination = destination_for(context, config)
        except (StepProblem, BuildahMissing, PathEscape, BadImageName, ValueError) as exc:
            return StepResult(Status.FAILED, error=str(exc))
        image = destination.image
        context.log.say(f"pushing to {image.name} (credentials: {destination.credentials_from}"
                        f"{'; plain HTTP allowed' if destination.insecure else ''})", time.time())
        try:
            check_registry(destination, tags)
        except StepProblem as exc:
            return StepResult(Status.FAILED, error=str(exc))

        names = [image.tagged(tag) for tag in tags]
        id_file = context.private_dir / f"{context.step}.image-id"
        id_file.unlink(missing_ok=True)
        build = Build(dockerfile, build_context, names, labels=run_labels(context, tags),
                      build_args=dict(config.build_args), no_cache=config.no_cache,
                      platform=config.platform, image_id_file=id_file)
        finished = run_in_step(context, bud_argv(buildah, build), timeout=config.timeout,
                               cwd=context.workspace, since=started)
        if finished.failure is not None:
            return finished.failure
        if finished.exit_code != 0:
            return StepResult(Status.FAILED, exit_code=finished.exit_code,
                              error=f"buildah bud failed (exit code {finished.exit_code}); its "
                                    "output is in the step log")
        image_id = _read_text(id_file)

        digests = push_tags(context, buildah, destination, tags, config.timeout, started)
        if isinstance(digests, StepResult):
            return digests
        digest = digests[tags[0]]
        if len(set(digests.values())) > 1:
            context.log.say("the registry answered different digests for the tags: "
                            + ", ".join(f"{t} {d}" for t, d in digests.items()), time.time())
        pinned = image.pinned(digest)
        context.log.say(f"pushed {pinned} as {', '.join(tags)}", time.time())
        return StepResult(
            Status.SUCCEEDED, exit_code=0,
            outputs={"image": pinned, "digest": digest, "tags": " ".join(tags)},
            summary={"title": f"pushed {image.name} ({len(tags)} "
                              f"tag{'s' if len(tags) != 1 else ''}) {digest[:19]}",
                     "lines": [*names, f"image {pinned}",
                               *([f"local image id {image_id}"] if image_id else [])],
                     "image": pinned, "digest": digest, "tags": tags})


def push_tags(context: StepContext, buildah: str, destination: Destination, tags: list[str],
              timeout: str | None, since: float) -> dict[str, str] | StepResult:
    """`buildah push` of each tag, with the destination's credentials in an auth file for the
    pushes only: the digest the registry answered, by tag, or the StepResult of the push that
    failed."""
    image = destination.image
    digests: dict[str, str] = {}
    with AuthFile(context.private_dir, f"{context.step}.auth.json", image.host,
                  destination.username, destination.password, context.user) as auth:
        for tag in tags:
            name = image.tagged(tag)
            digest_file = context.private_dir / f"{context.step}.{tag}.digest"
            digest_file.unlink(missing_ok=True)
            argv = push_argv(buildah, name, digest_file=digest_file, auth_file=auth.path,
                             insecure=destination.insecure)
            finished = run_in_step(context, argv, timeout=timeout, cwd=context.workspace,
                                   since=since)
            if finished.failure is not None:
                return finished.failure
            if finished.exit_code != 0:
                pushed = f" ({len(digests)} of {len(tags)} tags pushed)" if digests else ""
                return StepResult(Status.FAILED, exit_code=finished.exit_code,
                                  error=f"pushing {name} failed (exit code "
                                        f"{finished.exit_code}){pushed}: "
                                        f"{push_hint(destination)}; buildah's output is in the "
                                        "step log")
            try:
                digests[tag] = check_digest(_read_text(digest_file))
            except BadImageName as exc:
                return StepResult(Status.FAILED, error=f"pushing {name}: buildah wrote no "
                                                       f"digest ({exc})")
    return digests


def build_paths(context: StepContext, config: ImageBuildStep) -> tuple[Path, Path]:
    """The Dockerfile and the build context in the workspace; PathEscape or StepProblem when
    either leads out of it or is not there."""
    build_context = inside(context.workspace, config.context or ".", "context")
    if not build_context.is_dir():
        raise StepProblem(f"context {shown(config.context)} is not a directory in the workspace"
                          if build_context.exists() else
                          f"context {shown(config.context)} does not exist in the workspace")
    dockerfile = inside(context.workspace, config.dockerfile, "dockerfile")
    if not dockerfile.is_file():
        what = "is not a file" if dockerfile.exists() else "does not exist"
        raise StepProblem(f"dockerfile {shown(config.dockerfile)} {what} in the workspace "
                          f"({context.workspace}); set `dockerfile` to its path there")
    return dockerfile, build_context


def destination_for(context: StepContext, config: ImageBuildStep) -> Destination:
    """Where to push and with which credentials (see the module text); StepProblem."""
    secret = _secret_credentials(context, config.credentials)
    if config.repository.startswith(ACR_PREFIX):
        return _acr_destination(context, config, secret)
    image = parse_image_name(config.repository)
    block, access = _registry_block_for(context, image.host)
    url = access.url if access is not None else None
    insecure = config.insecure or bool(access is not None and access.insecure)
    if secret is not None:
        return Destination(image, insecure, f"secret {config.credentials}", *secret, url=url)
    if access is not None and access.username:
        return Destination(image, insecure, 'provider "registry"', access.username,
                           access.password, url=url)
    return Destination(image, insecure, "none" if block is None else
                       'none (provider "registry" gives none)', url=url)


def _secret_credentials(context: StepContext, name: str | None) -> tuple[str, str] | None:
    if not name:
        return None
    try:
        text = context.secret(name)
    except SecretMissing as exc:
        raise StepProblem(f"credentials: {exc}") from None
    username, colon, password = text.partition(":")
    if colon and username:
        return username, password
    return TOKEN_USERNAME, text


def _registry_block_for(context: StepContext, host: str) -> tuple[Any, Any]:
    """The `provider "registry"` block and its access when its url names `host`."""
    block = context.provider_block("registry")
    if not isinstance(block, Mapping):
        return None, None
    try:
        from flowplan_providers.registry.client import RegistryError, access_from_block
    except ImportError as exc:
        raise StepProblem(f'the provider "registry" cannot be loaded: {exc}') from None
    try:
        access = access_from_block(block)
    except (RegistryError, ValueError) as exc:
        raise StepProblem(f'provider "registry": {exc}') from None
    if access.host != host:
        return None, None
    return block, access


def _acr_destination(context: StepContext, config: ImageBuildStep,
                     secret: tuple[str, str] | None) -> Destination:
    address = config.repository
    applied = context.applied_resource(address)
    if applied is None:
        raise StepProblem(f"{address} is not in the state: run `flowplan apply` first, so the "
                          "repository exists")
    url = applied.get("repository_url")
    try:
        image = parse_image_name(url if isinstance(url, str) else "")
    except BadImageName as exc:
        raise StepProblem(f"{address}: its repository_url in the state is not an image name "
                          f"({exc}); run `flowplan apply` again") from None
    immutable = applied.get("tag_immutability") is True
    if secret is not None:
        return Destination(image, config.insecure, f"secret {config.credentials}", *secret,
                           immutable_tags=immutable)
    block = context.provider_block("alicloud")
    if not isinstance(block, Mapping):
        raise StepProblem(f'{address}: the config has no provider "alicloud" block to log in to '
                          "the registry with; add one, or give `credentials`")
    try:
        from flowplan_providers.alicloud.cr import CrError, registry_login
    except ImportError as exc:
        raise StepProblem(f"{address}: the alicloud provider cannot log in to its registry "
                          f"({exc})") from None
    try:
        login = registry_login(block, applied)
    except CrError as exc:
        raise StepProblem(f"{address}: logging in to its registry failed: {exc}") from None
    if login.host != image.host:
        raise StepProblem(f"{address}: the registry login is for {login.host}, but the "
                          f"repository is at {image.host}")
    return Destination(image, config.insecure, 'provider "alicloud" (a temporary registry '
                       "login)", login.username, login.password, immutable_tags=immutable)


def check_registry(destination: Destination, tags: list[str]) -> None:
    """The registry answers and takes the credentials for the repository; with immutable tags,
    none of `tags` is there yet. StepProblem otherwise."""
    try:
        from flowplan_providers.registry.client import RegistryError, check_access, tag_digest
    except ImportError:
        if destination.immutable_tags:
            raise StepProblem("the repository's tags are immutable, but the registry client "
                              "(flowplan_providers.registry) to check them is missing") from None
        return                                   # buildah push says what is wrong, later
    image = destination.image
    access = destination.access()
    try:
        check_access(access, image.path)
        if destination.immutable_tags:
            for tag in tags:
                existing = tag_digest(access, image.path, tag)
                if existing is not None:
                    raise StepProblem(
                        f"tag {tag!r} already exists in {image.name} ({existing}) and the "
                        "repository's tags are immutable (tag_immutability = true): use a tag "
                        "that changes on every run, such as ${run.number}")
    except RegistryError as exc:
        hint = ""
        if getattr(exc, "reason", None) == "credentials" and not destination.username:
            hint = (f" (this step has none for {image.host}: give `credentials = \"SECRET\"` "
                    f'or a provider "registry" block whose url names {image.host})')
        raise StepProblem(f"cannot push to {image.name}: {exc}{hint}") from None


def push_hint(destination: Destination) -> str:
    """What to look at when a push failed."""
    if destination.username:
        return (f"check that {destination.image.host} is up and takes the credentials "
                f"(from {destination.credentials_from})")
    return f"check that {destination.image.host} is up and takes anonymous pushes"


def run_labels(context: StepContext, tags: list[str]) -> dict[str, str]:
    """The labels telling which run built the image."""
    labels = {LABEL_RUN: context.run.ref, LABEL_REF_NAME: tags[0]}
    if context.run.commit:
        labels[LABEL_REVISION] = context.run.commit
    if context.run.source_url:
        labels[LABEL_SOURCE] = context.run.source_url
    return labels


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[:200]
    except OSError:
        return ""
