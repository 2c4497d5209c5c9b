"""The installed flowplan distribution: the built-in providers live under `flowplan_providers`, not
as a top-level `providers` that any other distribution may also install, and core is typed.

Checked against whatever is installed in the test environment (an editable install in
development, a wheel in CI), from a directory outside the repository: inside it, the source
tree's own `flowplan.egg-info` and `providers/` folder would be found first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

INSPECT = textwrap.dedent("""
    import importlib.util, json
    from importlib.metadata import distribution, entry_points

    dist = distribution("flowplan")
    [entry] = [e for e in entry_points(group="flowplan.providers") if e.name == "flowplan"]
    provider = entry.load()
    import flowplan
    print(json.dumps({
        "entry_point": entry.value,
        "provider_module": provider.__module__,
        "top_level": (dist.read_text("top_level.txt") or "").split(),
        "files": [str(path) for path in dist.files or ()],
        "providers_importable": importlib.util.find_spec("providers") is not None,
        "flowplan_dir": str(importlib.util.find_spec("flowplan").submodule_search_locations[0]),
        "ssh_transport": importlib.util.find_spec("flowplan_providers.ssh") is not None,
        "asyncssh": importlib.util.find_spec("asyncssh") is not None,
    }))
""")


def installed(tmp_path: Path) -> dict:
    completed = subprocess.run([sys.executable, "-c", INSPECT], cwd=tmp_path, capture_output=True,
                               text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_flowplan_provider_entry_point_resolves_to_flowplan_providers(tmp_path):
    found = installed(tmp_path)
    assert found["entry_point"] == "flowplan_providers.flowplan:FlowplanProvider"
    assert found["provider_module"] == "flowplan_providers.flowplan.provider"


def test_distribution_installs_no_top_level_providers_package(tmp_path):
    found = installed(tmp_path)
    assert sorted(found["top_level"]) == ["flowplan", "flowplan_providers"]
    paths = [Path(name) for name in found["files"] if ".." not in Path(name).parts]
    assert not [path for path in paths if path.parts[0] == "providers"]
    modules = {path.parts[0] for path in paths
               if path.suffix == ".py" and not path.name.startswith("__editable__")}
    assert modules <= {"flowplan", "flowplan_providers"}, modules
    assert not found["providers_importable"]


def test_core_is_marked_typed(tmp_path):
    assert (Path(installed(tmp_path)["flowplan_dir"]) / "py.typed").is_file()


def test_the_ssh_transport_is_installed_under_flowplan_providers_with_asyncssh(tmp_path):
    found = installed(tmp_path)
    assert found["ssh_transport"] and found["asyncssh"]
