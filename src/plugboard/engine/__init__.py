"""Use cases: what the API and CLI ask for, built on the store and the hosts."""
