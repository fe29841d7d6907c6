"""What a token (and, later, a user) may do: `admin` changes, `user` reads."""

from typing import Literal, get_args

Role = Literal["admin", "user"]
ROLES: tuple[Role, ...] = get_args(Role)
