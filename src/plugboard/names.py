"""Names plugboard gives things (hosts, networks, VMs, templates, tokens): a subset of what
libvirt takes for a network or a domain, that stands in a URL path unescaped, so that what
is created can always be addressed."""

from __future__ import annotations

import re

from plugboard.errors import InvalidInput

NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
NAME_RULE = "1-64 of letters, digits, '_', '.', '-'; starts with a letter or digit."
_NAME = re.compile(NAME_REGEX)


def check_name(name: str | None, field: str) -> str:
    """`name`, or INVALID_INPUT naming the field and the rule."""
    if name is None or not _NAME.fullmatch(name):
        raise InvalidInput(f"name {name!r} is not a valid name: {NAME_RULE}", field=field)
    return name
