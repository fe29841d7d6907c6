"""The one error of plugboard.netxml."""


class NetworkXMLError(ValueError):
    """A network definition libvirt would refuse. `path` names the place
    (`/network/ip[1]/dhcp/range[2]/@end`); the message says what is wrong and what is allowed."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
