from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class UnblockForm(forms.Form):
    confirm = forms.BooleanField(
        label=_(
            "I have dealt with the cause: computers scanned for malware, websites and plugins "
            "updated, and the passwords of the blocked addresses changed."
        ),
        required=True,
    )
