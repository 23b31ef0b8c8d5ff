from __future__ import annotations

from datetime import date

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from hosting.models import Hosting, Mailbox
from tracking.models import DeliveryStatus, Source, Status
from tracking.selectors import MessageFilters

# Dates a message can have; beyond them the day's bounds overflow in some time zones.
EARLIEST = date(2000, 1, 1)
LATEST = date(9999, 12, 30)
DATE_RANGE = [
    MinValueValidator(EARLIEST, message=_("Enter a date from 2000-01-01 on.")),
    MaxValueValidator(LATEST, message=_("Enter a date up to 9999-12-30.")),
]


class DateRangeForm(forms.Form):
    """A list's From and To dates (the day's bounds in the reader's zone), in order."""

    since = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=DATE_RANGE,
    )
    until = forms.DateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=DATE_RANGE,
    )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data


class MessageFilterForm(DateRangeForm):
    field_order = ["mailbox", "source", "status", "delivery", "spam", "since", "until", "q"]

    mailbox = forms.ModelChoiceField(
        label=_("Address"),
        queryset=Mailbox.objects.none(),
        required=False,
        empty_label=_("All addresses"),
    )
    source = forms.ChoiceField(
        label=_("Source"), choices=[("", _("All sources")), *Source.choices], required=False
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All statuses")), *Status.choices], required=False
    )
    delivery = forms.ChoiceField(
        label=_("Delivery"),
        choices=[
            ("", _("Any delivery")),
            (DeliveryStatus.BOUNCED, _("A recipient bounced")),
            (DeliveryStatus.DEFERRED, _("A recipient is deferred")),
            (DeliveryStatus.EXPIRED, _("Given up")),
            (DeliveryStatus.DELIVERED, _("A recipient delivered")),
        ],
        required=False,
        help_text=_("As the mail server last logged each recipient."),
    )
    spam = forms.BooleanField(label=_("Spam only"), required=False)
    q = forms.CharField(label=_("Subject or recipient contains"), required=False, max_length=200)

    def __init__(self, *args, hosting: Hosting, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].queryset = Mailbox.objects.filter(domain__hosting=hosting)

    def filters(self) -> MessageFilters:
        data = self.cleaned_data
        return MessageFilters(
            mailbox_id=data["mailbox"].pk if data.get("mailbox") else None,
            source=data.get("source") or "",
            status=data.get("status") or "",
            spam_only=bool(data.get("spam")),
            delivery=data.get("delivery") or "",
            since=data.get("since"),
            until=data.get("until"),
            text=(data.get("q") or "").strip(),
        )
