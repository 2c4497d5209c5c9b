"""Container image names as the `image_build` step takes them: checking a repository name and its
tags against the Docker reference grammar (github.com/distribution/reference), before anything
reaches buildah or a registry.

A full image name is `HOST[:PORT]/PATH`: the first part names a registry (it holds a dot or a
port, or is `localhost`), the path is lower-case components separated by `/`. The step pushes
only to a registry it names, so a Docker Hub short name (`library/app`) is refused, as is a name
that already carries a tag or digest (tags go in `tags`). What is wrong is said in the error,
with the offending text quoted and cut short; nothing here talks to a registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_NAME = 255                  # the whole repository name, as distribution limits it
SHOWN = 80                      # characters of a bad value quoted in a message

_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
DOMAIN = re.compile(rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]{{1,5}})?")
PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class BadImageName(ValueError):
    """A repository name or tag that is not a valid image reference; the text says why."""


@dataclass(frozen=True)
class ImageName:
    host: str           # "127.0.0.1:5000", "registry.example.com"
    path: str           # "team/app"

    @property
    def name(self) -> str:
        return f"{self.host}/{self.path}"

    def tagged(self, tag: str) -> str:
        return f"{self.name}:{tag}"

    def pinned(self, digest: str) -> str:
        return f"{self.name}@{digest}"


def shown(text: str) -> str:
    """`text` quoted for a message, cut to SHOWN characters, control characters escaped."""
    cut = text if len(text) <= SHOWN else text[:SHOWN] + "..."
    return repr(cut)


def parse_image_name(text: str) -> ImageName:
    """The registry host and repository path of a full image name; BadImageName otherwise."""
    if not isinstance(text, str) or not text:
        raise BadImageName("an image name is empty")
    if len(text) > MAX_NAME:
        raise BadImageName(f"image name {shown(text)} is longer than {MAX_NAME} characters")
    if "@" in text:
        raise BadImageName(f"image name {shown(text)} carries a digest: give the repository "
                           "only (HOST/PATH)")
    host, slash, path = text.partition("/")
    if not slash or not _names_registry(host):
        raise BadImageName(f"image name {shown(text)} does not start with a registry host: "
                           "write HOST[:PORT]/PATH, e.g. registry.example.com/team/app")
    if not DOMAIN.fullmatch(host) or not _port_fits(host):
        raise BadImageName(f"image name {shown(text)}: {shown(host)} is not a registry host")
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        raise BadImageName(f"image name {shown(text)} carries a tag: give the repository only "
                           "(HOST/PATH) and the tags in `tags`")
    for component in path.split("/"):
        if not PATH_COMPONENT.fullmatch(component):
            raise BadImageName(
                f"image name {shown(text)}: path component {shown(component)} is not valid "
                "(lower-case letters and digits, separated by '.', '_', '__' or dashes)")
    return ImageName(host, path)


def check_tag(tag: str) -> str:
    """`tag` when it is a valid tag (a word character, then up to 127 of word characters, dots
    and dashes); BadImageName otherwise."""
    if not isinstance(tag, str) or not tag:
        raise BadImageName("a tag is empty (a run value in it may have been empty, such as "
                           "run.commit_short of a run without a source)")
    if not TAG.fullmatch(tag):
        raise BadImageName(f"tag {shown(tag)} is not a valid tag: up to 128 letters, digits, "
                           "'_', '.' and '-', not starting with '.' or '-'")
    return tag


def check_digest(text: str) -> str:
    """`text` stripped when it is a sha256 digest; BadImageName otherwise."""
    digest = text.strip()
    if not DIGEST.fullmatch(digest):
        raise BadImageName(f"{shown(digest)} is not a sha256 digest")
    return digest


def _names_registry(host: str) -> bool:
    return "." in host or ":" in host or host == "localhost"


def _port_fits(host: str) -> bool:
    _, colon, port = host.partition(":")
    return not colon or 0 < int(port) < 65536
