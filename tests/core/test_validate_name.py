"""workspace.validate_name checks the whole name: any character outside letters, digits, '.', '_'
and '-' (a trailing newline included) is refused, and whatever passes is one harmless path component."""

from __future__ import annotations

import string
from pathlib import PurePosixPath

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as hs

from synth_core.errors import ConfigError
from synth_core.workspace import validate_name

ALLOWED = set(string.ascii_letters + string.digits + "._-")
_good = hs.text(alphabet=sorted(ALLOWED), min_size=0, max_size=99).map(lambda s: "a" + s).filter(lambda s: ".." not in s)


@settings(max_examples=200, deadline=None)
@given(hs.text(max_size=120))
@example("abc\n")
@example("abc\r\n")
@example("..")
@example("a/b")
@example(".hidden")
def test_a_name_passes_only_if_every_character_is_allowed(name):
    expected = (0 < len(name) <= 100 and set(name) <= ALLOWED and name[0] in ALLOWED - {".", "_", "-"}
                and ".." not in name)
    try:
        out = validate_name(name)
    except ConfigError:
        assert not expected, f"{name!r} refused"
        return
    assert expected and out == name, f"{name!r} accepted"
    assert PurePosixPath(name).parts == (name,)  # one path component


@settings(max_examples=200, deadline=None)
@given(_good, hs.sampled_from(["\n", "\r", "\r\n", "\x00", "\t", " ", "/", "\\", "\u2028", "é"]))
def test_a_good_name_with_anything_else_appended_is_refused(name, tail):
    assert validate_name(name) == name
    with pytest.raises(ConfigError, match="is not allowed"):
        validate_name(name + tail)
