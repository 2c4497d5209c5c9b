"""Which packages the flowplan distribution holds; all else is declared in pyproject.toml.

pyproject.toml can either find packages or list them, not both, and the providers/ folder must
be installed under a name of its own (`flowplan_providers`, not a top-level `providers` that any
other distribution may also use). So: the `flowplan` packages are found as they are, and every
package under providers/ is installed under `flowplan_providers`, found the same way, so that a
new provider or core package needs no packaging change.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["flowplan", "flowplan.*"]),
        "flowplan_providers",
        *(f"flowplan_providers.{name}" for name in find_packages("providers")),
    ],
    package_dir={"flowplan_providers": "providers"},
)
