"""Admin widgets that hold up against malformed posts."""

from __future__ import annotations

from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError


class ValidatingAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete select, minus a crash on malformed input.

    When a form is shown again with its errors, Django's widget filters the
    related table by the raw posted value; a value that is not a valid key
    (say "x" for an integer id) raises ValueError there and turns a form
    error into a 500. Such values cannot name a row, so they are dropped
    before the lookup; the form still reports "Select a valid choice".
    """

    def optgroups(self, name, value, attr=None):
        key = self.field.remote_field.model._meta.get_field(
            self.field.remote_field.field_name
        )
        return super().optgroups(name, [v for v in value if _is_key(key, v)], attr)


def _is_key(field, value) -> bool:
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return True
