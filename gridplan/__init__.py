"""gridplan — grid planning and the 15-minute red service circle for urban community governance."""
from ._errors import CRSError, GridplanError, PlanError, Problem, ValidationError
from .model import FIELDS, ID_FIELD, LAYERS, STATION_KINDS, Dataset, Plan, Rule

__version__ = "0.1.0"

__all__ = [
    "CRSError", "GridplanError", "PlanError", "Problem", "ValidationError",
    "FIELDS", "ID_FIELD", "LAYERS", "STATION_KINDS", "Dataset", "Plan", "Rule",
]
