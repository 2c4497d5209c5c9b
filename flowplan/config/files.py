"""Reading a config directory's files, with a parse cache keyed by content hash.

python-hcl2 needs about a millisecond per block, so a config of thousands of pipelines takes seconds
to parse. Each file's syntax tree is cached under `.flowplan/cache/parse/` by the SHA-256 of its
path and bytes (and the syntax-tree version): any byte change misses the cache. Files that miss are
parsed in a pool of processes when there is enough work to pay for one.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flowplan.config.syntax import SYNTAX_VERSION, Body, FileSyntax, parse_text
from flowplan.diagnostics import Diagnostic, Range

CONFIG_SUFFIX = ".hcl"
VARIABLE_FILE_SUFFIX = ".auto.fpvars"
CACHE_DIR = Path(".flowplan") / "cache" / "parse"
PARALLEL_THRESHOLD_BYTES = 256 * 1024       # below this a process pool costs more than it saves


MAX_FILE_BYTES = 10 * 1024 * 1024           # larger config files are refused before parsing


@dataclass(frozen=True)
class SourceFile:
    path: str              # as shown in diagnostics: relative to the working directory when possible
    text: str
    size: int = 0          # bytes on disk, when over MAX_FILE_BYTES (the text is then not read)


def config_files(directory: Path) -> list[Path]:
    """The `*.hcl` files of one directory (not recursive), sorted by name."""
    return sorted(p for p in directory.iterdir() if p.suffix == CONFIG_SUFFIX and p.is_file())


def variable_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir()
                  if p.name.endswith(VARIABLE_FILE_SUFFIX) and p.is_file())


def display_path(path: Path) -> str:
    """The path as diagnostics show it: relative to the working directory when under it."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(absolute)


def read_sources(paths: list[Path]) -> list[SourceFile]:
    """The files' texts; a file over MAX_FILE_BYTES is not read (parse_sources reports it: a
    50 MB config would take python-hcl2 half a minute and gigabytes of memory)."""
    sources = []
    for path in paths:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            sources.append(SourceFile(display_path(path), "", size))
            continue
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            sources.append(SourceFile(display_path(path), fh.read()))
    return sources


def _too_large(source: SourceFile) -> FileSyntax:
    return FileSyntax(source.path, Body(), [Diagnostic.error(
        "Config file too large",
        f"{source.path} is {source.size / 1048576:.1f} MiB; config files may be at most "
        f"{MAX_FILE_BYTES // 1048576} MiB. Split it into several *.hcl files.",
        Range(source.path, 1, 1))])


def parse_sources(sources: list[SourceFile], cache_root: Path | None,
                  plain_variables: frozenset[str] = frozenset()) -> list[FileSyntax]:
    """Parse every source, taking trees from the cache where the content is unchanged.

    `plain_variables` names the declared variables that are not sensitive: a variables file
    setting only those may be cached (see holds_secrets)."""
    results: list[FileSyntax | None] = [None] * len(sources)
    keys = [_cache_key(s) for s in sources]
    cache_dir = cache_root / CACHE_DIR if cache_root is not None else None
    missing: list[int] = []
    for i, key in enumerate(keys):
        if sources[i].size:
            results[i] = _too_large(sources[i])
            continue
        cached = _read_cache(cache_dir, key) if cache_dir else None
        if cached is not None:
            results[i] = cached
        else:
            missing.append(i)
    if missing:
        work = [sources[i] for i in missing]
        parsed = _parse_many(work)
        for i, syntax in zip(missing, parsed):
            results[i] = syntax
            if cache_dir is not None and not holds_secrets(sources[i], syntax,
                                                           plain_variables):
                _write_cache(cache_dir, keys[i], syntax)
    return [r for r in results if r is not None]


def holds_secrets(source: SourceFile, syntax: FileSyntax,
                  plain_variables: frozenset[str] = frozenset()) -> bool:
    """Files whose text may hold a secret are never cached: nothing under .flowplan/ may hold
    a sensitive value in plaintext. That is a variables file setting anything but declared
    non-sensitive variables (`plain_variables`), and every file declaring a sensitive variable
    with a default."""
    if source.path.endswith(VARIABLE_FILE_SUFFIX):
        return bool(syntax.diagnostics or syntax.body.blocks
                    or not set(syntax.body.attributes) <= plain_variables)
    for block in syntax.body.blocks:
        if block.type == "variable" and "default" in block.body.attributes:
            sensitive = block.body.attributes.get("sensitive")
            if sensitive is not None and sensitive.source.strip() != "false":
                return True
    return False


def _parse_one(source: SourceFile) -> FileSyntax:
    return parse_text(source.path, source.text)


def _parse_many(sources: list[SourceFile]) -> list[FileSyntax]:
    total = sum(len(s.text) for s in sources)
    workers = min(os.cpu_count() or 1, len(sources))
    if workers < 2 or total < PARALLEL_THRESHOLD_BYTES:
        return [_parse_one(s) for s in sources]
    import multiprocessing

    context = multiprocessing.get_context("fork") if hasattr(os, "fork") else None
    # Interleave so each worker gets a similar share of large and small files.
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_parse_one, sources, chunksize=max(1, len(sources) // (workers * 4))))


@lru_cache(maxsize=1)
def _parser_version() -> str:
    """python-hcl2's version, read without importing it (and lark): a warm load needs neither."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("python-hcl2")
    except PackageNotFoundError:
        return "unknown"


def _cache_key(source: SourceFile) -> str:
    digest = hashlib.sha256()
    digest.update(f"{SYNTAX_VERSION}\0{_parser_version()}\0{source.path}\0".encode())
    digest.update(source.text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _read_cache(cache_dir: Path, key: str) -> FileSyntax | None:
    try:
        with open(cache_dir / key[:2] / key, "rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


def _write_cache(cache_dir: Path, key: str, syntax: FileSyntax) -> None:
    target = cache_dir / key[:2]
    try:
        target.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(syntax, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target / key)
    except OSError:
        pass        # a cache that cannot be written only costs time
