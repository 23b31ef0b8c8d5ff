from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from abuse.models import PolicySettings, PolicyTier
from abuse.retention import MARGIN


class UnblockForm(forms.Form):
    confirm = forms.BooleanField(
        label=_(
            "I have dealt with the cause: computers scanned for malware, websites and plugins "
            "updated, and the passwords of the blocked addresses changed."
        ),
        required=True,
    )


class PolicyTierForm(forms.ModelForm):
    """The policy table as staff edit it: a threshold of at least one spam, and a stronger
    code never firing at fewer spam than a weaker one of the same scope."""

    class Meta:
        model = PolicyTier
        fields = [
            "code",
            "scope",
            "rank",
            "threshold",
            "window",
            "block_duration",
            "complaint_period",
            "notify_customer",
            "enabled",
        ]

    def clean_threshold(self) -> int:
        threshold = self.cleaned_data["threshold"]
        if threshold is not None and threshold < 1:
            raise forms.ValidationError("A threshold is at least 1 spam message.")
        return threshold

    def clean_window(self):
        window = self.cleaned_data["window"]
        days = settings.MESSAGE_HISTORY_DAYS
        if window is not None and window + MARGIN > timedelta(days=days):
            raise forms.ValidationError(
                f"At most {days - MARGIN.days} days: the message history is kept "
                f"{days} days (MESSAGE_HISTORY_DAYS) and counting needs 10 more than a window."
            )
        return window

    def clean(self):
        data = super().clean()
        # The list's inline edit has only some fields: the row's own values stand for the rest.
        scope = data.get("scope", self.instance.scope)
        rank = data.get("rank", self.instance.rank)
        threshold = data.get("threshold")
        if None in (scope, rank, threshold):
            return data
        others = PolicyTier.objects.filter(scope=scope).exclude(pk=self.instance.pk)
        weaker = others.filter(rank__lt=rank, threshold__gt=threshold).first()
        stronger = others.filter(rank__gt=rank, threshold__lt=threshold).first()
        if weaker is not None:
            raise forms.ValidationError(
                f"{weaker.code} is weaker but needs more spam ({weaker.threshold}): a stronger "
                "code must not need fewer spam than a weaker one."
            )
        if stronger is not None:
            raise forms.ValidationError(
                f"{stronger.code} is stronger but needs fewer spam ({stronger.threshold}): a "
                "weaker code must not need more spam than a stronger one."
            )
        return data


class PolicySettingsForm(forms.ModelForm):
    """The single row of policy numbers: a spam threshold Rspamd can reach and no negative
    durations (the database refuses them too, but with a raw error)."""

    class Meta:
        model = PolicySettings
        fields = ["spam_score_threshold", "unblock_interval", "notify_quiet_period"]

    def clean_spam_score_threshold(self) -> float:
        value = self.cleaned_data["spam_score_threshold"]
        if value is not None and not (0 <= value < 1000):
            raise forms.ValidationError("A spam score threshold lies between 0 and 1000.")
        return value

    def _not_negative(self, name: str):
        value = self.cleaned_data[name]
        if value is not None and value.total_seconds() < 0:
            raise forms.ValidationError("A duration cannot be negative.")
        return value

    def clean_unblock_interval(self):
        return self._not_negative("unblock_interval")

    def clean_notify_quiet_period(self):
        return self._not_negative("notify_quiet_period")
