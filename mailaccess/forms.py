from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from mailaccess.models import Protocol, Result
from mailaccess.selectors import AttemptFilters
from tracking.forms import DateRangeForm


class AttemptFilterForm(DateRangeForm):
    field_order = ["mailbox", "result", "protocol", "since", "until"]

    mailbox = forms.CharField(
        label=_("Mailbox"),
        required=False,
        max_length=254,
        help_text=_("The address as it was typed, e.g. contact@example.com."),
    )
    result = forms.ChoiceField(
        label=_("Result"), choices=[("", _("All results")), *Result.choices], required=False
    )
    protocol = forms.ChoiceField(
        label=_("Protocol"),
        choices=[("", _("All protocols")), *Protocol.choices],
        required=False,
    )

    def clean_mailbox(self) -> str:
        value = self.cleaned_data["mailbox"]
        if "\x00" in value:
            raise forms.ValidationError(_("Enter an address."))
        return value.strip().lower()

    def filters(self) -> AttemptFilters:
        data = self.cleaned_data
        return AttemptFilters(
            login=data.get("mailbox") or "",
            result=data.get("result") or "",
            protocol=data.get("protocol") or "",
            since=data.get("since"),
            until=data.get("until"),
        )
