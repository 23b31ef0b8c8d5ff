from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from limits.models import HOUR_DAY_PAIRS, LIMIT_FIELDS, SendingLimits, hourly_above_daily

# Far above any real limit, far below what PostgreSQL's integer holds.
MAX_LIMIT = 10_000_000


def _field(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=1, max_value=MAX_LIMIT)


class OwnLimitForm(forms.Form):
    """A customer's own limits for a domain (per hour, per day) or a mailbox (and per
    message); empty inherits. The ceiling is the service's rule (own_limit_set)."""

    per_hour = _field(_("Recipients per hour"))
    per_day = _field(_("Recipients per day"))
    per_message = _field(_("Recipients per message"))

    def __init__(self, *args, per_message: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not per_message:
            del self.fields["per_message"]


class SendingLimitsForm(forms.ModelForm):
    """Staff's server default or hosting row: every limit at least 1, or empty."""

    class Meta:
        model = SendingLimits
        fields = ["hosting", *LIMIT_FIELDS]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in LIMIT_FIELDS:
            field = self.fields[name]
            self.fields[name] = forms.IntegerField(
                label=field.label,
                help_text=field.help_text,
                required=False,
                min_value=1,
                max_value=MAX_LIMIT,
            )

    def clean(self) -> dict:
        cleaned = super().clean()
        for hour, day in hourly_above_daily(cleaned, HOUR_DAY_PAIRS):
            self.add_error(
                hour,
                f"The hourly limit ({cleaned[hour]}) is above the daily one ({cleaned[day]}): "
                "it could never be reached. Lower it, or raise the daily limit.",
            )
        return cleaned
