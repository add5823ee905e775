"""How the user writes a parameter: a leaf module, so that error mapping and argument checks share it."""
from __future__ import annotations

from typing import Any


def param_label(param: Any) -> str:
    """An option's long name (else its short one); an argument as --help and usage errors name it."""
    if param.param_type_name == "option":
        return next((o for o in param.opts if o.startswith("--")), param.opts[0])
    return getattr(param, "display_name_raw", None) or param.metavar or param.name
