"""vNICs: the model, their <interface> XML and metadata record, and the pure planner."""

from plugboard.netxml.model import MACVTAP_MODES, MacvtapMode
from plugboard.vnic.model import (
    MODELS,
    SOURCE_TYPES,
    Source,
    SourceType,
    VlanTags,
    Vnic,
    VnicEdit,
    VnicModel,
)
from plugboard.vnic.planner import ACTION_KINDS, Action, ActionKind, Plan, PlanError, plan

__all__ = [
    "ACTION_KINDS",
    "MACVTAP_MODES",
    "MODELS",
    "SOURCE_TYPES",
    "Action",
    "ActionKind",
    "MacvtapMode",
    "Plan",
    "PlanError",
    "Source",
    "SourceType",
    "VlanTags",
    "Vnic",
    "VnicEdit",
    "VnicModel",
    "plan",
]
