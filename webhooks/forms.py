from __future__ import annotations

from django import forms
from django.core.validators import URLValidator

from webhooks.destinations import RefusedDestination, destination_check
from webhooks.events import Event
from webhooks.models import Endpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
    )
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="What this endpoint is told of.",
    )

    class Meta:
        model = Endpoint
        fields = ["name", "url", "events", "is_active", "secret"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            destination_check(url)
        except RefusedDestination as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def clean_secret(self) -> str:
        secret = self.cleaned_data["secret"].strip()
        if len(secret) < 16:
            raise forms.ValidationError("At least 16 characters: it is the receiver's only proof.")
        return secret
