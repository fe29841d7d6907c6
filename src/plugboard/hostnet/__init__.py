"""Host interfaces: NICs, bonds, bridges, VLANs, macvtaps and Open vSwitch bridges, read over
netlink and OVSDB in the namespace of the host's libvirtd, or through libvirt
(plugboard.hostnet.listing). This package loads nothing itself: the CLI imports the
vocabulary (plugboard.hostnet.model) without pyroute2 or Open vSwitch's library."""
