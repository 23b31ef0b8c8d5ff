from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from abuse.models import PolicyTier


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
