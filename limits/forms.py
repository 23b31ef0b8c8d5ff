from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from limits.models import LIMIT_FIELDS, SendingLimits

# Far above any real limit, far below what PostgreSQL's integer holds.
MAX_LIMIT = 10_000_000


def _field(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=1, max_value=MAX_LIMIT)


class OwnLimitForm(forms.Form):
    """A customer's own limit for a domain or a mailbox: empty inherits, never higher than
    what it inherits (`inherited`: field name -> the inherited limit, None for no limit)."""

    per_hour = _field(_("Recipients per hour"))
    per_day = _field(_("Recipients per day"))
    per_message = _field(_("Recipients per message"))

    def __init__(self, *args, inherited: dict[str, int | None], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.inherited = inherited
        for name in list(self.fields):
            if name not in inherited:
                del self.fields[name]

    def clean(self):
        data = super().clean()
        for name, ceiling in self.inherited.items():
            value = data.get(name)
            if value is not None and ceiling is not None and value > ceiling:
                self.add_error(
                    name,
                    _("At most %(n)d: a limit can only be lowered here, not raised.")
                    % {"n": ceiling},
                )
        return data


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
