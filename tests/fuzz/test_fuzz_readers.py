"""Reader fuzzing over the real corpus: truncations, byte flips, zeroed headers, empty and
foreign files, a gzip bomb. Every case ends in time, in a CathodescopeError or in data that come
with a warning; no plain exception, no silent short read, no silent absurd numbers."""

from __future__ import annotations

import importlib.util
import os
import sys
import zlib
from pathlib import Path

import pytest


def _load_corpus():
    spec = importlib.util.spec_from_file_location(
        "cathodescope_fuzz_corpus", Path(__file__).with_name("_corpus.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_corpus = _load_corpus()
_env = os.environ.get("CATHODESCOPE_SHARED_DATA")
DATA = Path(_env) if _env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
CASES = _corpus.corpus(DATA) if DATA.is_dir() else []
# files whose pristine read takes seconds get the cheap mutations only
BIG_FILE_BYTES = 2_000_000
SKIP_FILE_BYTES = 3_500_000

pytestmark = [pytest.mark.shared_data]

# Readers whose fixes belong to a branch not yet merged into main: each case names its branch
# and is re-enabled when that branch is merged (remove the entry).
WAITS_FOR_BRANCH: dict[str, str] = {}
GZIP_BOMB_WAITS_FOR = ""


def _id(case):
    path, reader = case
    return f"{path.relative_to(DATA)}-{reader.name}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_reader_survives_mutations(case, tmp_path, shared_data):
    path, reader = case
    waits = WAITS_FOR_BRANCH.get(path.relative_to(DATA).as_posix())
    if waits:
        pytest.skip(f"{path.name}: waits for branch {waits}")
    if path.stat().st_size > SKIP_FILE_BYTES:
        pytest.skip(
            f"{path.name} is over {SKIP_FILE_BYTES} bytes: read speed is benchmarked, not fuzzed"
        )
    status, baseline, _ = _corpus.run(reader, path)
    if status != "ok":
        pytest.skip(f"the pristine file is not read by {reader.name} ({baseline}); see its issue")
    data = path.read_bytes()
    n_base = _corpus.size_of(baseline)
    failures = []
    seed = zlib.crc32(str(path.relative_to(DATA)).encode())
    for name, mutated in _corpus.mutations(data, seed):
        if len(data) > BIG_FILE_BYTES and name in (
            "truncated_97pct",
            "byte_flips",
            "zeroed_header",
        ):
            continue
        target = tmp_path / name / path.name
        target.parent.mkdir()
        target.write_bytes(mutated)
        status, result, warned = _corpus.run(reader, target)
        if status == "hang":
            failures.append(f"{name}: hang ({result})")
        elif status == "plain":
            failures.append(f"{name}: plain {type(result).__name__}: {result}")
        elif status == "ok" and name in ("empty", "foreign"):
            failures.append(f"{name}: read without an error")
        elif status == "ok" and not warned:
            if _corpus.absurd(result):
                failures.append(f"{name}: absurd values (> 1e15) without a warning")
            elif name.startswith(("truncated", "cut")) and _corpus.size_of(result) < n_base:
                failures.append(
                    f"{name}: silent short read ({_corpus.size_of(result)} of {n_base} values)"
                )
    assert not failures, "\n".join(failures)


@pytest.mark.skipif(not (DATA / "xas" / "NiO.prj").is_file(), reason="needs xas/NiO.prj")
def test_gzip_bomb_athena_project_is_refused(tmp_path):
    if GZIP_BOMB_WAITS_FOR:
        pytest.skip(f"waits for branch {GZIP_BOMB_WAITS_FOR}")
    from cathodescope import io
    from cathodescope.errors import CathodescopeError

    bomb = tmp_path / "bomb.prj"
    bomb.write_bytes(_corpus.gzip_bomb())
    with _corpus.time_limit(60), pytest.raises(CathodescopeError, match=r"decompress|larger"):
        io.read_athena(bomb)
