"""The state, its backup and its lock are flowplan's user's alone (0600), whatever the umask; a
directory made for them is 0711: passable on the way to a run's workspace, not listable."""

from __future__ import annotations

import os
import stat

from flowplan.state import LocalStateBackend, State


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_state_backup_and_lock_are_0600_and_their_new_directory_0711(tmp_path):
    old = os.umask(0o002)
    try:
        backend = LocalStateBackend(tmp_path / ".flowplan" / "state.json")
        with backend.lock("apply"):
            assert mode(backend.lock_path) == 0o600
            state = State()
            backend.write(state)
            backend.write(state)
    finally:
        os.umask(old)
    assert mode(tmp_path / ".flowplan") == 0o711
    assert mode(backend.path) == 0o600
    assert mode(backend.backup_path) == 0o600


def test_a_state_file_open_to_others_is_closed_by_the_next_write(tmp_path):
    backend = LocalStateBackend(tmp_path / "state.json")
    backend.write(State())
    os.chmod(backend.path, 0o644)
    backend.write(backend.read())
    assert mode(backend.path) == 0o600
