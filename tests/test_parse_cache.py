"""The parse cache: reused while content is unchanged, rebuilt otherwise, never fatal."""

from __future__ import annotations

from pathlib import Path

from oncall.migrations.parse_cache import cache_key, load_or_build


def test_second_call_reuses_the_stored_value(tmp_path: Path) -> None:
    """The same kind and content are built once and then read back from disk."""
    builds: list[int] = []

    def build() -> dict[str, int]:
        builds.append(1)
        return {"n": len(builds)}

    first = load_or_build(tmp_path, "stmts", b"CREATE TABLE t ()", build)
    second = load_or_build(tmp_path, "stmts", b"CREATE TABLE t ()", build)
    assert (first, second, len(builds)) == ({"n": 1}, {"n": 1}, 1)


def test_changed_content_or_kind_builds_again(tmp_path: Path) -> None:
    """A different file content, or another kind of derived value, is a different entry."""
    assert cache_key("a", b"x") != cache_key("a", b"y")
    assert cache_key("a", b"x") != cache_key("b", b"x")
    assert load_or_build(tmp_path, "k", "one", lambda: 1) == 1
    assert load_or_build(tmp_path, "k", "two", lambda: 2) == 2


def test_corrupt_entry_is_rebuilt_and_replaced(tmp_path: Path) -> None:
    """A torn or foreign cache file is ignored, rebuilt and overwritten."""
    path = tmp_path / "cache" / cache_key("k", b"c")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert load_or_build(tmp_path, "k", b"c", lambda: [1, 2]) == [1, 2]
    assert path.read_text() == "[1,2]"


def test_unwritable_cache_dir_still_returns_the_value(tmp_path: Path) -> None:
    """When the state directory cannot hold a cache, the value is built and returned anyway."""
    blocker = tmp_path / "state"
    blocker.write_text("a file where a directory should be")
    assert load_or_build(blocker, "k", b"c", lambda: "built") == "built"


def test_no_state_dir_means_no_cache(tmp_path: Path) -> None:
    """Without a state directory every call builds."""
    builds: list[int] = []
    load_or_build(None, "k", b"c", lambda: builds.append(1))
    load_or_build(None, "k", b"c", lambda: builds.append(1))
    assert len(builds) == 2


def test_encode_and_decode_round_trip_custom_values(tmp_path: Path) -> None:
    """Values that are not JSON themselves pass through encode/decode."""
    value = load_or_build(tmp_path, "k", b"c", lambda: {3, 1}, encode=sorted, decode=set)
    again = load_or_build(tmp_path, "k", b"c", lambda: {9}, encode=sorted, decode=set)
    assert value == again == {1, 3}
