"""Rules of the programme that several domains apply to what people declare."""

from __future__ import annotations

from talents.kernel.errors import ValidationFailedError
from talents.kernel.settings import get_settings

__all__ = ["check_share_above_floor"]


def check_share_above_floor(share: float, field: str) -> None:
    """A contribution counts only strictly above the policy floor (a setting, 50 % by default).

    Applies to an agent's availability windows and to a role's share, in every writer (API, imports, pages).
    """
    floor = get_settings().matching.floor
    if not share > floor:
        raise ValidationFailedError(
            f"{field} must be above {floor:.0%} of working time (got {share:.0%}): "
            f"the programme counts a contribution only above {floor:.0%} of working time",
            field=field,
        )
