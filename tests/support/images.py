"""buildah for tests: an image store of the test session's own, and a base image built locally
from /bin/busybox (there is no Docker Hub here).

    from images import image_store, base_image            # session fixtures, by name
    def test_x(image_store, base_image):
        image_store.environment     # {"CONTAINERS_STORAGE_CONF": ...}: give it to the step
        base_image                  # "localhost/flowplan-test-base:busybox"

`image_store` writes a storage.conf whose graphroot and runroot are in a temporary directory
(driver vfs: no overlay mounts to clean up) and points CONTAINERS_STORAGE_CONF at it in this
process's environment for the session, so that buildah run by a step (steps inherit the
environment) and by a `flowplan` subprocess never touch the machine's /var/lib/containers.
`base_image` builds, once per session, an image holding only a static busybox with its applets
linked into /bin (so a Dockerfile's RUN has a shell). Both are made once per process however many
test modules import the fixtures, and removed at exit. `buildah_problem()` says why buildah
cannot run here, for a skip reason.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

BASE_IMAGE = "localhost/flowplan-test-base:busybox"
BUSYBOX = Path("/bin/busybox")
BASE_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
"""


def buildah_problem() -> str | None:
    """Why buildah cannot build here, or None."""
    if shutil.which("buildah") is None:
        return "buildah is not installed (Debian package buildah)"
    if not BUSYBOX.is_file():
        return "/bin/busybox is missing (Debian package busybox-static)"
    return None


@dataclass(frozen=True)
class ImageStore:
    root: Path
    storage_conf: Path

    @property
    def environment(self) -> dict[str, str]:
        return {"CONTAINERS_STORAGE_CONF": str(self.storage_conf)}

    def buildah(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(["buildah", *args], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **self.environment})
        if done.returncode != 0:
            raise RuntimeError(f"buildah {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def images(self) -> list[str]:
        """NAME:TAG of every image in the store."""
        done = self.buildah("images", "--format", "{{.Name}}:{{.Tag}}")
        return sorted(line for line in done.stdout.splitlines() if line)


_made: dict[str, object] = {}


def session_image_store() -> ImageStore:
    """The process's image store, made on first use (see the module text)."""
    if "store" not in _made:
        root = Path(tempfile.mkdtemp(prefix="flowplan-images-"))
        conf = root / "storage.conf"
        conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "graph"}"\n'
                        f'runroot = "{root / "run"}"\n')
        previous = os.environ.get("CONTAINERS_STORAGE_CONF")
        os.environ["CONTAINERS_STORAGE_CONF"] = str(conf)
        store = ImageStore(root, conf)
        _made["store"] = store
        atexit.register(_remove, store, previous)
    return _made["store"]  # type: ignore[return-value]


def session_base_image() -> str:
    """The busybox base image in the session's store, built on first use."""
    store = session_image_store()
    if "base" not in _made:
        context = store.root / "base-context"
        context.mkdir(exist_ok=True)
        shutil.copy2(BUSYBOX, context / "busybox")
        (context / "Dockerfile").write_text(BASE_DOCKERFILE)
        store.buildah("bud", "--isolation", "chroot", "--layers", "--tag", BASE_IMAGE,
                      str(context))
        _made["base"] = BASE_IMAGE
    return _made["base"]  # type: ignore[return-value]


def _remove(store: ImageStore, previous: str | None) -> None:
    try:
        subprocess.run(["buildah", "rm", "--all"], capture_output=True, timeout=60,
                       env={**os.environ, **store.environment})
    except (OSError, subprocess.SubprocessError):
        pass
    shutil.rmtree(store.root, ignore_errors=True)
    if previous is None:
        os.environ.pop("CONTAINERS_STORAGE_CONF", None)
    else:
        os.environ["CONTAINERS_STORAGE_CONF"] = previous


@pytest.fixture(scope="session")
def image_store() -> ImageStore:
    problem = buildah_problem()
    if problem:
        pytest.skip(problem)
    return session_image_store()


@pytest.fixture(scope="session")
def base_image(image_store: ImageStore) -> str:
    return session_base_image()
