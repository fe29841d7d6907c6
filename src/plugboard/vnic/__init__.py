"""vNICs: the model, their <interface> XML and metadata record, and the pure planner."""

from plugboard.vnic.model import (
    MACVTAP_MODES,
    MODELS,
    SOURCE_TYPES,
    MacvtapMode,
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
