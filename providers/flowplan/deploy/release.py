"""A release on a host, as the shell text a `host_deploy` sends: `bash -c` scripts run through a
transport's Session.run, each with its values shell-quoted.

    <download_path>/releases/<first 12 hex of the artifact's sha256>/   one release
    <download_path>/releases/<...>/<artifact file>                      the uploaded artifact
    <download_path>/current -> <download_path>/releases/<...>           the live one

- `prepare`: resolve `download_path` (relative: to the execute user's home), make the release
  directory, and say whether the artifact is already there with the same SHA-256 (a kept
  release: the upload is skipped). It answers in `flowplan-*:` lines (`answers`).
- `staging` and `place_staged`: when the execute user is not the login user, the login user
  uploads into a fresh directory of its own under /tmp (0711, the file's name random), and the
  execute user copies it into the release and checks its SHA-256; `unstage` removes it.
- `extract`: a tar archive unpacked into the release (its members were checked on this machine
  before any host was touched: flowplan.executor.step_process.user_files.check_members).
- `script`: the deploy script, run in the release directory with `set -e`, as a command step's
  default shell (`bash -e`).
- `health_check`: a URL (`curl -fsS`) or a command, tried every HEALTH_INTERVAL seconds until it
  passes or its time is up.
- `activate`: `current` switched to the release (a new symlink renamed over the old one), then
  releases beyond `keep_releases` removed, oldest first, never the current one.

Which user runs what, and reading the answers, is flowplan_providers.flowplan.deploy.rollout's.
"""

from __future__ import annotations

import shlex

HEALTH_INTERVAL = 2             # seconds between health check attempts
ANSWER = "flowplan-"            # the prefix of the lines `prepare` and `staging` answer with
CANNOT_PREPARE = 20             # exit codes of `prepare`: the release directory cannot be made
CANNOT_ACTIVATE = 21


def _q(value: str) -> str:
    return shlex.quote(value)


def prepare(download_path: str, release: str, file_name: str, sha256: str) -> str:
    return f"""set -u
base={_q(download_path)}
case "$base" in /*) ;; *) base="$HOME/$base" ;; esac
release="$base/releases/"{_q(release)}
if ! problem="$(mkdir -p -- "$release" 2>&1)"; then
  printf '{ANSWER}error:cannot create %s: %s\\n' "$release" "${{problem##*: }}"
  exit {CANNOT_PREPARE}
fi
if [ ! -w "$release" ]; then
  printf '{ANSWER}error:cannot write into %s: permission denied\\n' "$release"
  exit {CANNOT_PREPARE}
fi
release="$(cd -- "$release" && pwd)"
base="$(cd -- "$base" && pwd)"
touch -- "$release"
printf '{ANSWER}base:%s\\n{ANSWER}release:%s\\n' "$base" "$release"
file="$release/"{_q(file_name)}
if [ -f "$file" ] && [ "$(sha256sum -- "$file" 2>/dev/null | cut -d ' ' -f 1)" = {_q(sha256)} ]
then echo {ANSWER}present:yes
else echo {ANSWER}present:no
fi
"""


def answers(output: str) -> dict[str, str]:
    """The `flowplan-NAME:VALUE` lines of a command's output, by NAME."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith(ANSWER) and ":" in line:
            name, _, value = line[len(ANSWER):].partition(":")
            found[name] = value
    return found


def staging() -> str:
    return (f'dir="$(mktemp -d "${{TMPDIR:-/tmp}}/flowplan-upload.XXXXXXXXXX")" && '
            f'chmod 711 -- "$dir" && printf \'{ANSWER}staging:%s\\n\' "$dir"')


def readable(path: str) -> str:
    return f"chmod 644 -- {_q(path)}"


def place_staged(staged: str, destination: str, sha256: str) -> str:
    return f"""set -u
dest={_q(destination)}
tmp="$(mktemp "$dest.part.XXXXXX")" || exit 1
if ! cp -- {_q(staged)} "$tmp"; then rm -f -- "$tmp"; exit 1; fi
if [ "$(sha256sum -- "$tmp" | cut -d ' ' -f 1)" != {_q(sha256)} ]; then
  rm -f -- "$tmp"; echo "checksum mismatch for $dest" >&2; exit 1
fi
mv -f -- "$tmp" "$dest"
"""


def unstage(directory: str) -> str:
    return f"rm -rf -- {_q(directory)}"


def extract(release: str, archive: str) -> str:
    return f"tar -x -f {_q(archive)} -C {_q(release)} --no-same-owner"


def script(release: str, text: str) -> str:
    return f"cd -- {_q(release)} || exit 1\nset -e\n{text}"


def health_check(release: str, check: str, seconds: int) -> str:
    if check.startswith(("http://", "https://")):
        attempt = f"curl -fsS --max-time 10 -o /dev/null -- {_q(check)}"
    else:
        attempt = f"bash -c {_q(check)}"
    return f"""cd -- {_q(release)} || exit 1
end=$(( $(date +%s) + {int(seconds)} ))
tries=0
while :; do
  tries=$((tries + 1))
  if {attempt}; then echo "health check passed (attempt $tries)"; exit 0; fi
  if [ "$(date +%s)" -ge "$end" ]; then
    echo "health check failed $tries times in {int(seconds)} s" >&2; exit 1
  fi
  sleep {HEALTH_INTERVAL}
done
"""


def activate(base: str, release: str, keep: int) -> str:
    return f"""set -u
base={_q(base)}
release={_q(release)}
link="$base/.current.flowplan-$$"
rm -f -- "$link"
if ! ln -s -- "$release" "$link" || ! mv -f -T -- "$link" "$base/current"; then
  rm -f -- "$link"; exit {CANNOT_ACTIVATE}
fi
echo "current -> $release"
cd -- "$base/releases" || exit 0
kept="$(basename -- "$release")"
ls -1t | grep -E '^[0-9a-f]{{12}}$' | tail -n +{int(keep) + 1} | while IFS= read -r old; do
  if [ "$old" != "$kept" ]; then rm -rf -- "$old" && echo "removed release $old"; fi
done
"""
