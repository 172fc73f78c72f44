"""Business profile fields and their Cloud length limits (api-mapping section 11)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["PROFILE_LIMITS", "apply_profile_update"]

#: field -> max characters (websites: max entries).
PROFILE_LIMITS: Final = {
    "about": 139,
    "address": 256,
    "description": 512,
    "email": 128,
    "vertical": 64,
    "websites": 2,
    "profile_picture_handle": 4096,
}


def apply_profile_update(
    profile: dict[str, Any], data: Mapping[str, Any], *, ignore: frozenset[str] = frozenset()
) -> None:
    """Check every field first, then apply; ValueError names the first bad field."""
    updates: dict[str, Any] = {}
    for key, value in data.items():
        if key in ignore:
            continue
        limit = PROFILE_LIMITS.get(key)
        if limit is None:
            raise ValueError(f"{key}: not a business profile field")
        if key == "websites":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("websites: must be an array of strings")
            if len(value) > limit:
                raise ValueError(f"websites: at most {limit} entries")
        elif not isinstance(value, str):
            raise ValueError(f"{key}: must be a string")
        elif len(value) > limit:
            raise ValueError(f"{key}: at most {limit} characters")
        updates[key] = value
    if "profile_picture_handle" in updates:
        updates.pop("profile_picture_handle")
        updates["profile_picture_url"] = "https://example.com/profile-updated.png"
    profile.update(updates)
