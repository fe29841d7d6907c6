"""vNICs: the model, their <interface> XML, and the pure planner of changes."""

from plugboard.vnic.model import MODELS, Source, Vlan, Vnic
from plugboard.vnic.planner import Action, Plan, PlanError, plan

__all__ = ["MODELS", "Action", "Plan", "PlanError", "Source", "Vlan", "Vnic", "plan"]
