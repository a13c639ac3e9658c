"""Where the settings are read from: pydantic-settings' environment and ``.env`` sources, taught
to fill a section (``settings.mail``, ...) from its fields' own flat names (``SMTP_HOST``) rather
than pydantic-settings' nested ones (``MAIL__HOST``), which no deployment uses.

Only the lookup of a section's names is ours: precedence (init, then environment, then ``.env``),
case-insensitivity and ``.env`` parsing stay pydantic-settings'.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource


def env_names(field: FieldInfo) -> tuple[str, ...]:
    """The environment names a field is read under, the documented one first."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return (alias,)
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    return ()


def section_model(field: FieldInfo) -> type[BaseModel] | None:
    """The section type of a root field (``limits``, ``mail``, ...), None for a plain setting."""
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


class EnvWithSections(EnvSettingsSource):
    """Reads a section's fields under their own flat names (``SMTP_HOST``), not ``MAIL__HOST``.

    The root's plain fields are read as pydantic-settings reads them; the ``.env`` source below
    shares this.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        section = section_model(field)
        if section is None:
            return super().get_field_value(field, field_name)
        values: dict[str, str] = {}  # by field name, so that an init value for the same field wins
        for name, sub in section.model_fields.items():
            for env_name in env_names(sub):
                value = self.env_vars.get(self._apply_case_sensitive(env_name))
                if value is not None:
                    values[name] = value
                    break
        return values or None, field_name, False

    def prepare_field_value(self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool) -> Any:
        if section_model(field) is not None:
            return value  # names to raw strings; the section's own validators parse them
        return super().prepare_field_value(field_name, field, value, value_is_complex)


class DotEnvWithSections(EnvWithSections, DotEnvSettingsSource):
    """The same for ``.env``."""
